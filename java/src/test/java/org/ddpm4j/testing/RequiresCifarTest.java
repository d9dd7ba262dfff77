package org.ddpm4j.testing;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.data.Cifar10Reader;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.Split;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.io.TempDir;

/** The fixtures that let the suite run without the real CIFAR-10 files, and the rule for the tests that need them. */
class RequiresCifarTest {
    static final String MISSING = "CIFAR-10 test data not found at /nowhere; set DDPM_CIFAR_DIR to the cifar-10-batches-bin folder";

    @Test
    void presentDataRunsTheTestEverywhere() {
        assertFalse(RequiresCifar.Condition.decide(null, null).isDisabled());
        assertFalse(RequiresCifar.Condition.decide(null, "true").isDisabled());
    }

    @Test
    void missingDataSkipsWithTheReasonOffCi() {
        for (String ci : new String[] {null, "", "false", "FALSE"}) {
            ConditionEvaluationResult r = RequiresCifar.Condition.decide(MISSING, ci);
            assertTrue(r.isDisabled(), "CI=" + ci);
            assertEquals(MISSING, r.getReason().orElseThrow());
        }
    }

    @Test
    void missingDataFailsOnCi() {
        for (String ci : new String[] {"true", "1", "yes"}) {
            AssertionError e = assertThrows(AssertionError.class, () -> RequiresCifar.Condition.decide(MISSING, ci), "CI=" + ci);
            assertTrue(e.getMessage().startsWith(MISSING) && e.getMessage().contains("CI is set"), e.getMessage());
        }
    }

    /** The synthetic folder is in the official layout: the reader takes both splits, with every class equally often. */
    @Test
    void theSyntheticFolderReadsAsCifar10(@TempDir Path dir) throws Exception {
        Path cifar = TestData.syntheticCifar(dir.resolve("c"), 20, 3);
        assertTrue(Cifar10Reader.looksComplete(cifar));
        assertEquals(20L * Cifar10Reader.RECORD_BYTES, Files.size(cifar.resolve("data_batch_4.bin")));
        ImageSet train = Cifar10Reader.read(cifar, Split.TRAIN), test = Cifar10Reader.read(cifar, Split.TEST);
        assertEquals(100, train.size());
        assertEquals(20, test.size());
        assertEquals(TestData.CIFAR_CLASSES, train.classNames());
        for (int n : train.classCounts()) assertEquals(10, n);
        for (int n : test.classCounts()) assertEquals(2, n);
        // File k holds syntheticImages(n, seed + k): the 4th file is the 4th block of the train split.
        ImageSet fourth = TestData.syntheticImages(20, 3 + 3);
        byte[] a = new byte[3072], b = new byte[3072];
        for (int i = 0; i < 20; i++) {
            assertEquals(fourth.label(i), train.label(60 + i));
            fourth.copyImage(i, a, 0);
            train.copyImage(60 + i, b, 0);
            assertArrayEquals(a, b, "image " + i + " of data_batch_4.bin");
        }
    }

    /**
     * Synthetic images have structure a model can learn, not noise: images of one class look alike (nearly all are
     * closer to their class's mean image than to any other class's), and they are seeded.
     */
    @Test
    void syntheticImagesLookLikeTheirClassAndAreSeeded() {
        ImageSet s = TestData.syntheticImages(200, 9);
        double[][] means = new double[10][3072];
        byte[] px = new byte[3072];
        for (int i = 0; i < s.size(); i++) {
            s.copyImage(i, px, 0);
            for (int k = 0; k < px.length; k++) means[s.label(i)][k] += (px[k] & 0xff) / 20.0;
        }
        int nearestOwn = 0;
        for (int i = 0; i < s.size(); i++) {
            s.copyImage(i, px, 0);
            int best = -1;
            double bestD = Double.MAX_VALUE;
            for (int c = 0; c < 10; c++) {
                double d = 0;
                for (int k = 0; k < px.length; k++) d += Math.pow((px[k] & 0xff) - means[c][k], 2);
                if (d < bestD) {
                    bestD = d;
                    best = c;
                }
            }
            if (best == s.label(i)) nearestOwn++;
        }
        assertTrue(nearestOwn >= 190, nearestOwn + " of 200 images are nearest their own class's mean");
        ImageSet again = TestData.syntheticImages(200, 9), other = TestData.syntheticImages(200, 10);
        byte[] a = new byte[3072], b = new byte[3072], c = new byte[3072];
        s.copyImage(17, a, 0);
        again.copyImage(17, b, 0);
        other.copyImage(17, c, 0);
        assertArrayEquals(a, b, "the same seed, the same images");
        assertFalse(java.util.Arrays.equals(a, c), "another seed, other images");
    }
}
