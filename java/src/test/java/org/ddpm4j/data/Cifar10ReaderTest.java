package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.testing.RequiresCifar;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Cifar10ReaderTest {
    @Test
    @RequiresCifar
    void trainSplitHas50000ImagesAnd5000PerClass() {
        ImageSet s = TestData.train();
        assertEquals(50_000, s.size());
        assertEquals(TestData.CIFAR_CLASSES, s.classNames());
        assertEquals(3, s.channels());
        assertEquals(32, s.height());
        assertEquals(32, s.width());
        int[] counts = s.classCounts();
        for (int c = 0; c < 10; c++) assertEquals(5_000, counts[c], "class " + TestData.CIFAR_CLASSES.get(c));
    }

    @Test
    @RequiresCifar
    void testSplitHas10000ImagesAnd1000PerClass() {
        ImageSet s = Cifar10Reader.read(TestData.cifarDir(), Split.TEST);
        assertEquals(10_000, s.size());
        for (int n : s.classCounts()) assertEquals(1_000, n);
    }

    @Test
    void pixelsAreTheRecordPlanesInOrder(@TempDir Path dir) throws IOException {
        TestData.syntheticCifar(dir, 3, 7);
        byte[] raw = Files.readAllBytes(dir.resolve("data_batch_1.bin"));
        ImageSet s = Cifar10Reader.read(dir, Split.TRAIN);
        byte[] img = new byte[3072];
        s.copyImage(1, img, 0);  // second record of the first file
        assertEquals(raw[3073] & 0xff, s.label(1));
        for (int i = 0; i < 3072; i += 97) assertEquals(raw[3073 + 1 + i], img[i], "byte " + i);
        double mean = 0;
        for (byte b : img) mean += b & 0xff;
        assertTrue(mean / 3072 > 5 && mean / 3072 < 250, "an image, not blank");
    }

    @Test
    void missingFileIsNamed(@TempDir Path dir) throws IOException {
        TestData.syntheticCifar(dir, 3, 1);
        Files.delete(dir.resolve("data_batch_3.bin"));
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(dir, Split.TRAIN));
        assertTrue(e.getMessage().contains("lacks data_batch_3.bin (the train split needs"), e.getMessage());
    }

    @Test
    void partialRecordIsReported(@TempDir Path dir) throws IOException {
        TestData.syntheticCifar(dir, 3, 1);
        Files.write(dir.resolve("data_batch_2.bin"), new byte[3 * 3073 + 100]);
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(dir, Split.TRAIN));
        assertTrue(e.getMessage().contains("data_batch_2.bin") && e.getMessage().contains("not a whole number of 3073-byte records"),
                e.getMessage());
    }

    @Test
    void labelOutsideRangeIsReported(@TempDir Path dir) throws IOException {
        TestData.syntheticCifar(dir, 3, 1);
        byte[] b = Files.readAllBytes(dir.resolve("test_batch.bin"));
        b[2 * 3073] = 10;
        Files.write(dir.resolve("test_batch.bin"), b);
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(dir, Split.TEST));
        assertTrue(e.getMessage().contains("test_batch.bin") && e.getMessage().contains("record 2")
                && e.getMessage().contains("label 10"), e.getMessage());
    }

    @Test
    void wrongClassListIsReported(@TempDir Path dir) throws IOException {
        TestData.syntheticCifar(dir, 1, 1);
        Files.writeString(dir.resolve("batches.meta.txt"), "cat\ndog\n");
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(dir, Split.TRAIN));
        assertTrue(e.getMessage().contains("batches.meta.txt") && e.getMessage().contains("2 class names"), e.getMessage());
    }

    @Test
    void missingFolderIsReported(@TempDir Path dir) {
        DataException e = assertThrows(DataException.class, () -> Cifar10Reader.read(dir.resolve("nope"), Split.TRAIN));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }
}
