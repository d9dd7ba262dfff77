package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding CIFAR-10: training needs only the training files, and what is missing is named. */
class CifarLocatorTest {
    static final CifarLocator NO_DOWNLOAD = new CifarLocator(false, "http://unused", "00", Path.of("unused-cache"));

    /** A CIFAR-10 folder of 2 records per batch file, without {@code test_batch.bin}. */
    static Path withoutTestBatch(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(Cifar10Reader.META_FILE), String.join("\n", TestData.CIFAR_CLASSES) + "\n");
        for (String f : Cifar10Reader.TRAIN_FILES) {
            byte[] b = new byte[2 * Cifar10Reader.RECORD_BYTES];
            b[Cifar10Reader.RECORD_BYTES] = 7;
            Files.write(dir.resolve(f), b);
        }
        return dir;
    }

    @Test
    void aFolderWithoutTheTestBatchIsFoundForTrainingAndTrains(@TempDir Path tmp) throws IOException {
        Path partial = withoutTestBatch(tmp.resolve("partial"));
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        List<Path> candidates = List.of(tmp.resolve("nowhere"), file, partial);
        assertEquals(partial, NO_DOWNLOAD.locate(null, Split.TRAIN, candidates, s -> {}));
        ImageSet s = Cifar10Reader.read(partial, Split.TRAIN);
        assertEquals(10, s.size());
        assertEquals(7, s.label(1));

        DataException e = assertThrows(DataException.class, () -> NO_DOWNLOAD.locate(null, Split.TEST, candidates, s2 -> {}));
        assertEquals("CIFAR-10 not found for the test split (" + tmp.resolve("nowhere") + " does not exist; " + file
                + " is a file, not a folder; " + partial + " lacks test_batch.bin); pass cifarDir DIR, or download to"
                + " fetch it (about 170 MB)", e.getMessage());
    }

    @Test
    void everyMissingFileOfTheSplitIsNamed(@TempDir Path tmp) throws IOException {
        Path partial = withoutTestBatch(tmp.resolve("partial"));
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(partial, Split.TEST));
        assertEquals("CIFAR-10 folder " + partial + " lacks test_batch.bin (the test split needs test_batch.bin,"
                + " batches.meta.txt)", e.getMessage());
        Files.delete(partial.resolve("data_batch_2.bin"));
        Files.delete(partial.resolve(Cifar10Reader.META_FILE));
        e = assertThrows(DataException.class, () -> Cifar10Reader.read(partial, Split.TRAIN));
        assertTrue(e.getMessage().startsWith("CIFAR-10 folder " + partial + " lacks data_batch_2.bin, batches.meta.txt"),
                e.getMessage());
        e = assertThrows(DataException.class, () -> NO_DOWNLOAD.locate(null, Split.TRAIN, List.of(partial), s -> {}));
        assertTrue(e.getMessage().contains(partial + " lacks data_batch_2.bin, batches.meta.txt"), e.getMessage());
    }

    @Test
    void explicitFoldersAreTakenAsGivenAndFilesAreNamed(@TempDir Path tmp) throws IOException {
        Path partial = withoutTestBatch(tmp.resolve("partial"));
        LoadedData d = DataSources.load(DataSpec.cifar(partial.toString(), Split.TRAIN), 3, 32, 32, NO_DOWNLOAD, s -> {});
        assertEquals(10, d.images().size());
        Path file = Files.writeString(tmp.resolve("data_batch_1.bin"), "x");
        DataException e = assertThrows(DataException.class,
                () -> DataSources.load(DataSpec.cifar(file.toString(), Split.TRAIN), 3, 32, 32, NO_DOWNLOAD, s -> {}));
        assertEquals("CIFAR-10 folder " + file + " is a file, not a folder", e.getMessage());
    }

    @Test
    void classNamesMustBeTenDistinctUtf8Lines(@TempDir Path tmp) throws IOException {
        Path meta = tmp.resolve(Cifar10Reader.META_FILE);
        Files.writeString(meta, String.join("\n", TestData.CIFAR_CLASSES).replace("truck", "cat"));
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.readClassNames(meta));
        assertTrue(e.getMessage().contains("lists a class name twice"), e.getMessage());
        Files.write(meta, new byte[] {'c', 'a', (byte) 0xff, 't'});
        e = assertThrows(DataException.class, () -> Cifar10Reader.readClassNames(meta));
        assertEquals("CIFAR-10 file " + meta + " is not UTF-8 text", e.getMessage());
    }
}
