package org.ddpm4j.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
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

    /** The files a split needs: the five training batches or the test batch, and the class names. */
    public static List<String> filesFor(Split split) {
        List<String> files = new ArrayList<>(split == Split.TRAIN ? TRAIN_FILES : List.of(TEST_FILE));
        files.add(META_FILE);
        return files;
    }

    /** The files of {@code split} that {@code dir} lacks (all of them when dir is not a folder). */
    public static List<String> missingFiles(Path dir, Split split) {
        return filesFor(split).stream().filter(f -> !Files.isRegularFile(dir.resolve(f))).toList();
    }

    public static ImageSet read(Path dir, Split split) {
        if (Files.isRegularFile(dir)) throw new DataException("CIFAR-10 folder " + dir + " is a file, not a folder");
        if (!Files.isDirectory(dir)) throw new DataException("CIFAR-10 folder " + dir + " does not exist");
        List<String> missing = missingFiles(dir, split);
        if (!missing.isEmpty()) {
            throw new DataException("CIFAR-10 folder " + dir + " lacks " + String.join(", ", missing) + " (the "
                    + split.label() + " split needs " + String.join(", ", filesFor(split)) + ")");
        }
        List<String> names = readClassNames(dir.resolve(META_FILE));
        List<String> sources = new ArrayList<>();
        long total = 0;
        for (String f : split == Split.TRAIN ? TRAIN_FILES : List.of(TEST_FILE)) {
            Path p = dir.resolve(f);
            total += checkSize(p.toString(), size(p));
            sources.add(p.toString());
        }
        if (total > MAX_RECORDS) throw new DataException("CIFAR-10 folder " + dir + " holds " + total + " records, more than "
                + MAX_RECORDS + " fit in memory");
        List<byte[]> contents = new ArrayList<>();
        for (String f : sources) contents.add(readFile(Path.of(f)));
        return decode(names, sources, contents);
    }

    private static final long MAX_META_BYTES = 1 << 20;

    /** Records that fit one byte array of pixels. */
    private static final long MAX_RECORDS = (Integer.MAX_VALUE - 8) / IMAGE_BYTES;

    /** The number of records in a batch file of {@code size} bytes, which must be a positive whole number of records. */
    private static long checkSize(String source, long size) {
        if (size == 0 || size % RECORD_BYTES != 0) {
            throw new DataException("CIFAR-10 file " + source + " has " + size + " bytes, not a whole number of "
                    + RECORD_BYTES + "-byte records");
        }
        return size / RECORD_BYTES;
    }

    /**
     * The images of batch files already in memory, in order: each a whole number of
     * records whose label byte is 0-9.
     *
     * @param sources the files' names, for messages
     */
    static ImageSet decode(List<String> classNames, List<String> sources, List<byte[]> contents) {
        long records = 0;
        for (int f = 0; f < contents.size(); f++) records += checkSize(sources.get(f), contents.get(f).length);
        if (records > MAX_RECORDS) throw new DataException("CIFAR-10 files " + sources + " hold more records than fit in memory");
        int n = (int) records;
        byte[] pixels = new byte[n * IMAGE_BYTES];
        byte[] labels = new byte[n];
        int k = 0;
        for (int f = 0; f < contents.size(); f++) {
            byte[] b = contents.get(f);
            for (int r = 0; r < b.length / RECORD_BYTES; r++, k++) {
                int label = b[r * RECORD_BYTES] & 0xff;
                if (label >= NUM_CLASSES) {
                    throw new DataException("CIFAR-10 file " + sources.get(f) + ": record " + r + " has label " + label
                            + ", outside 0-9");
                }
                labels[k] = (byte) label;
                System.arraycopy(b, r * RECORD_BYTES + 1, pixels, k * IMAGE_BYTES, IMAGE_BYTES);
            }
        }
        return new ImageSet(pixels, labels, classNames, CHANNELS, SIDE, SIDE);
    }

    /** The 10 class names, one per line (blank lines ignored). */
    public static List<String> readClassNames(Path meta) {
        long size = size(meta);
        if (size > MAX_META_BYTES) {
            throw new DataException("CIFAR-10 file " + meta + " is " + size + " bytes, too long for a list of class names");
        }
        return parseClassNames(meta.toString(), readFile(meta));
    }

    /**
     * The class names of a {@code batches.meta.txt} held in memory: UTF-8 text, one name
     * per line (surrounding spaces and blank lines ignored), exactly 10 distinct names.
     *
     * @param source the file's name, for messages
     */
    static List<String> parseClassNames(String source, byte[] bytes) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new DataException("CIFAR-10 file " + source + " is not UTF-8 text");
        }
        List<String> names = new ArrayList<>();
        for (String line : text.split("\\R")) if (!line.isBlank()) names.add(line.strip());
        if (names.size() != NUM_CLASSES) {
            throw new DataException("CIFAR-10 file " + source + " lists " + names.size() + " class names, expected "
                    + NUM_CLASSES);
        }
        if (new HashSet<>(names).size() != NUM_CLASSES) {
            throw new DataException("CIFAR-10 file " + source + " lists a class name twice: " + String.join(", ", names));
        }
        return names;
    }

    private static long size(Path f) {
        return io(f, () -> Files.size(f));
    }

    private static byte[] readFile(Path f) {
        return io(f, () -> Files.readAllBytes(f));
    }

    private interface IoCall<T> {
        T call() throws IOException;
    }

    /** The result of a file operation, its failure as a DataException naming the file. */
    private static <T> T io(Path f, IoCall<T> op) {
        try {
            return op.call();
        } catch (NoSuchFileException e) {
            throw new DataException("CIFAR-10 file " + f + " is missing");
        } catch (IOException e) {
            throw new DataException("cannot read CIFAR-10 file " + f + ": " + e.getMessage(), e);
        }
    }
}
