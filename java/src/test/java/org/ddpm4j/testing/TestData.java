package org.ddpm4j.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.ddpm4j.data.Cifar10Reader;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.Split;
import org.ddpm4j.model.UNetConfig;

/**
 * Shared fixtures: the real CIFAR-10 files (for tests marked {@link RequiresCifar}), synthetic
 * images and CIFAR-10 folders for every other test, and tiny model configurations.
 */
public final class TestData {
    /** CIFAR-10's class names in label order, as its batches.meta.txt lists them. */
    public static final List<String> CIFAR_CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");

    /** Images per batch file of {@link #syntheticCifar()}: 500 training images, 50 of each class, and 100 test images. */
    public static final int SYNTHETIC_PER_FILE = 100;
    /** Training images of each class in {@link #syntheticCifar()}. */
    public static final int SYNTHETIC_TRAIN_PER_CLASS = Cifar10Reader.TRAIN_FILES.size() * SYNTHETIC_PER_FILE / 10;

    private static ImageSet train;
    private static Path synthetic;

    private TestData() {}

    /**
     * Where the real CIFAR-10 folder should be: $DDPM_CIFAR_DIR (as the CLI) and nothing else when it is set, so
     * {@code DDPM_CIFAR_DIR=/nonexistent} runs the suite as on a machine without the data; else -Dddpm.cifar.dir
     * (set by the pom), else ../shared/data/cifar-10-batches-bin from the repository root.
     */
    public static Path cifarLocation() {
        String p = System.getenv("DDPM_CIFAR_DIR");
        if (p == null || p.isBlank()) p = System.getProperty("ddpm.cifar.dir");
        Path dir = p != null && !p.isBlank() ? Path.of(p) : repoRoot().resolve("../shared/data/cifar-10-batches-bin");
        return dir.toAbsolutePath().normalize();
    }

    /** Null when {@link #cifarLocation()} holds every file of both splits, else why the real data is not there. */
    public static String cifarMissing() {
        Path dir = cifarLocation();
        if (Cifar10Reader.looksComplete(dir)) return null;
        String lacks = Files.isDirectory(dir) ? " (it lacks " + String.join(", ", Cifar10Reader.allFiles().stream()
                .filter(f -> !Files.isRegularFile(dir.resolve(f))).toList()) + ")" : "";
        return "CIFAR-10 test data not found at " + dir + lacks + "; set DDPM_CIFAR_DIR to the cifar-10-batches-bin folder";
    }

    /** The real CIFAR-10 folder; only for tests marked {@link RequiresCifar}, which do not run without it. */
    public static Path cifarDir() {
        String missing = cifarMissing();
        assertTrue(missing == null, missing);
        return cifarLocation();
    }

    /** The repository root (tests run in java/). */
    public static Path repoRoot() {
        Path here = Path.of("").toAbsolutePath();
        return Files.exists(here.resolve("java").resolve("pom.xml")) ? here : here.getParent();
    }

    /** The 50,000 real training images, read once per test JVM; only for tests marked {@link RequiresCifar}. */
    public static synchronized ImageSet train() {
        if (train == null) train = Cifar10Reader.read(cifarDir(), Split.TRAIN);
        return train;
    }

    /**
     * {@code n} synthetic 3x32x32 images (see {@link SyntheticImages}) under CIFAR-10's class names, every class
     * n/10 times when n is a multiple of 10, in a seeded order; the same seed gives the same images.
     */
    public static ImageSet syntheticImages(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] labels = SyntheticImages.balancedLabels(n, CIFAR_CLASSES.size(), rnd);
        byte[] pixels = new byte[n * SyntheticImages.IMAGE_BYTES];
        for (int i = 0; i < n; i++) SyntheticImages.draw(labels[i], rnd, pixels, i * SyntheticImages.IMAGE_BYTES);
        return new ImageSet(pixels, labels, CIFAR_CLASSES, SyntheticImages.CHANNELS, SyntheticImages.SIDE, SyntheticImages.SIDE);
    }

    /**
     * Writes a CIFAR-10 folder in the official binary layout into {@code dir} (created if need be):
     * data_batch_1.bin .. data_batch_5.bin and test_batch.bin of {@code imagesPerBatchFile} records each
     * (file k holds {@code syntheticImages(imagesPerBatchFile, seed + k)}), and batches.meta.txt with the
     * real class names. Returns {@code dir}.
     */
    public static Path syntheticCifar(Path dir, int imagesPerBatchFile, long seed) {
        List<String> batches = Stream.concat(Cifar10Reader.TRAIN_FILES.stream(), Stream.of(Cifar10Reader.TEST_FILE)).toList();
        try {
            Files.createDirectories(dir);
            for (int k = 0; k < batches.size(); k++) {
                ImageSet images = syntheticImages(imagesPerBatchFile, seed + k);
                byte[] records = new byte[imagesPerBatchFile * Cifar10Reader.RECORD_BYTES];
                for (int r = 0; r < imagesPerBatchFile; r++) {
                    records[r * Cifar10Reader.RECORD_BYTES] = (byte) images.label(r);
                    images.copyImage(r, records, r * Cifar10Reader.RECORD_BYTES + 1);
                }
                Files.write(dir.resolve(batches.get(k)), records);
            }
            Files.writeString(dir.resolve(Cifar10Reader.META_FILE), String.join("\n", CIFAR_CLASSES) + "\n\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a synthetic CIFAR-10 folder in " + dir, e);
        }
        return dir;
    }

    /**
     * A synthetic CIFAR-10 folder of {@link #SYNTHETIC_PER_FILE} images per batch file, written once per test JVM
     * into a temporary folder deleted at exit. Tests only read it (one that changes files writes its own with
     * {@link #syntheticCifar(Path, int, long)}), so the command-line tests can all pass it as --cifar-dir.
     */
    public static synchronized Path syntheticCifar() {
        if (synthetic == null) {
            try {
                Path root = Files.createTempDirectory("ddpm4j-synthetic-cifar");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(root)));
                synthetic = syntheticCifar(root.resolve("cifar-10-batches-bin"), SYNTHETIC_PER_FILE, 1);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot make a temporary folder for synthetic CIFAR-10", e);
            }
        }
        return synthetic;
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        } catch (IOException e) {
            System.err.println("could not delete " + root + ": " + e.getMessage());
        }
    }

    /** A tiny UNet on 32x32 CIFAR images: base 4, depth 2, and T timesteps (fast to train and sample). */
    public static UNetConfig tiny(int timesteps) {
        return UNetConfig.seed().withBaseWidth(4).withDepth(2).withTimesteps(timesteps);
    }
}
