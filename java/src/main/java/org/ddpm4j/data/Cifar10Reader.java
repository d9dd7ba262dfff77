package org.ddpm4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the official CIFAR-10 binary format: {@code data_batch_1.bin .. data_batch_5.bin}
 * (train), {@code test_batch.bin} (test) and {@code batches.meta.txt} (the class names).
 * Each record is 3,073 bytes: a label byte (0-9), then the red, green and blue
 * 32x32 planes, which is already the (C, H, W) layout of {@link ImageSet}.
 * Every problem is reported as a {@link DataException} naming the file.
 */
public final class Cifar10Reader {
    public static final int CHANNELS = 3;
    public static final int SIDE = 32;
    public static final int IMAGE_BYTES = CHANNELS * SIDE * SIDE;
    public static final int RECORD_BYTES = 1 + IMAGE_BYTES;
    public static final int NUM_CLASSES = 10;
    public static final List<String> TRAIN_FILES = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin");
    public static final String TEST_FILE = "test_batch.bin";
    public static final String META_FILE = "batches.meta.txt";

    private Cifar10Reader() {}

    /** The files a complete CIFAR-10 folder holds. */
    public static List<String> allFiles() {
        List<String> all = new ArrayList<>(TRAIN_FILES);
        all.add(TEST_FILE);
        all.add(META_FILE);
        return all;
    }

    /** True when dir holds every file of the binary distribution (contents are not checked). */
    public static boolean looksComplete(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) return false;
        for (String f : allFiles()) if (!Files.isRegularFile(dir.resolve(f))) return false;
        return true;
    }

    public static ImageSet read(Path dir, Split split) {
        if (!Files.isDirectory(dir)) throw new DataException("CIFAR-10 folder " + dir + " does not exist");
        List<String> names = readClassNames(dir.resolve(META_FILE));
        List<Path> files = new ArrayList<>();
        for (String f : split == Split.TRAIN ? TRAIN_FILES : List.of(TEST_FILE)) files.add(dir.resolve(f));
        List<byte[]> contents = new ArrayList<>();
        long records = 0;
        for (Path f : files) {
            byte[] b = readFile(f);
            if (b.length == 0 || b.length % RECORD_BYTES != 0) {
                throw new DataException("CIFAR-10 file " + f + " has " + b.length + " bytes, not a whole number of "
                        + RECORD_BYTES + "-byte records");
            }
            contents.add(b);
            records += b.length / RECORD_BYTES;
        }
        if (records * IMAGE_BYTES > Integer.MAX_VALUE - 8) throw new DataException("too many CIFAR-10 records in " + dir);
        int n = (int) records;
        byte[] pixels = new byte[n * IMAGE_BYTES];
        byte[] labels = new byte[n];
        int k = 0;
        for (int f = 0; f < files.size(); f++) {
            byte[] b = contents.get(f);
            for (int r = 0; r < b.length / RECORD_BYTES; r++, k++) {
                int label = b[r * RECORD_BYTES] & 0xff;
                if (label >= NUM_CLASSES) {
                    throw new DataException("CIFAR-10 file " + files.get(f) + ": record " + r + " has label " + label
                            + ", outside 0-9");
                }
                labels[k] = (byte) label;
                System.arraycopy(b, r * RECORD_BYTES + 1, pixels, k * IMAGE_BYTES, IMAGE_BYTES);
            }
            contents.set(f, null);
        }
        return new ImageSet(pixels, labels, names, CHANNELS, SIDE, SIDE);
    }

    /** The 10 class names, one per line (blank lines ignored). */
    public static List<String> readClassNames(Path meta) {
        String text = new String(readFile(meta), StandardCharsets.UTF_8);
        List<String> names = new ArrayList<>();
        for (String line : text.split("\\R")) if (!line.isBlank()) names.add(line.trim());
        if (names.size() != NUM_CLASSES) {
            throw new DataException("CIFAR-10 file " + meta + " lists " + names.size() + " class names, expected "
                    + NUM_CLASSES);
        }
        return names;
    }

    private static byte[] readFile(Path f) {
        try {
            return Files.readAllBytes(f);
        } catch (NoSuchFileException e) {
            throw new DataException("CIFAR-10 file " + f + " is missing");
        } catch (IOException e) {
            throw new DataException("cannot read CIFAR-10 file " + f + ": " + e.getMessage(), e);
        }
    }
}
