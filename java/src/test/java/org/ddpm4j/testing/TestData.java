package org.ddpm4j.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.data.Cifar10Reader;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.Split;
import org.ddpm4j.model.UNetConfig;

/** Shared fixtures: the real CIFAR-10 files and tiny model configurations. */
public final class TestData {
    private static ImageSet train;

    private TestData() {}

    /**
     * The CIFAR-10 folder: $DDPM_CIFAR_DIR (as the CLI), else -Dddpm.cifar.dir (set by the pom),
     * else ../shared/data/cifar-10-batches-bin from the repository root.
     */
    public static Path cifarDir() {
        String p = System.getenv("DDPM_CIFAR_DIR");
        if (p == null || p.isBlank()) p = System.getProperty("ddpm.cifar.dir");
        Path dir = p != null && !p.isBlank() ? Path.of(p) : repoRoot().resolve("../shared/data/cifar-10-batches-bin");
        assertTrue(Files.isDirectory(dir), "CIFAR-10 test data not found at " + dir.toAbsolutePath().normalize());
        return dir.toAbsolutePath().normalize();
    }

    /** The repository root (tests run in java/). */
    public static Path repoRoot() {
        Path here = Path.of("").toAbsolutePath();
        return Files.exists(here.resolve("java").resolve("pom.xml")) ? here : here.getParent();
    }

    /** The 50,000 training images, read once per test JVM. */
    public static synchronized ImageSet train() {
        if (train == null) train = Cifar10Reader.read(cifarDir(), Split.TRAIN);
        return train;
    }

    /** A tiny UNet on 32x32 CIFAR images: base 4, depth 2, and T timesteps (fast to train and sample). */
    public static UNetConfig tiny(int timesteps) {
        return UNetConfig.seed().withBaseWidth(4).withDepth(2).withTimesteps(timesteps);
    }
}
