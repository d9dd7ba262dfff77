package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class BatchLoaderTest {
    /** n images whose first pixel byte is their index (mod 256) and second is index / 256. */
    static ImageSet numbered(int n) {
        byte[] px = new byte[n * 3 * 4 * 4];
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            px[i * 48] = (byte) (i & 0xff);
            px[i * 48 + 1] = (byte) (i >> 8);
            px[i * 48 + 2] = 1;  // so a mirrored copy would differ (not used here: flips are applied natively)
            labels[i] = (byte) (i % 3);
        }
        return new ImageSet(px, labels, List.of("a", "b", "c"), 3, 4, 4);
    }

    static int id(Batch b, int k) {
        return (b.pixels()[k * 48] & 0xff) | ((b.pixels()[k * 48 + 1] & 0xff) << 8);
    }

    @Test
    void permutationIsAPureFunctionOfSeedAndEpoch() {
        int[] a = DataOrder.permutation(1000, 7, 3);
        assertArrayEquals(a, DataOrder.permutation(1000, 7, 3));
        assertFalse(Arrays.equals(a, DataOrder.permutation(1000, 7, 4)), "epochs differ");
        assertFalse(Arrays.equals(a, DataOrder.permutation(1000, 8, 3)), "seeds differ");
        int[] sorted = a.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; i++) assertEquals(i, sorted[i]);
        int fixed = 0;
        for (int i = 0; i < a.length; i++) if (a[i] == i) fixed++;
        assertTrue(fixed < 20, "shuffled, " + fixed + " fixed points");
    }

    @Test
    void flipsArePureAndRoughlyHalf() {
        int ones = 0;
        for (int p = 0; p < 10_000; p++) {
            boolean f = DataOrder.flip(5, 2, p);
            assertEquals(f, DataOrder.flip(5, 2, p));
            if (f) ones++;
        }
        assertTrue(ones > 4_700 && ones < 5_300, ones + " flips of 10000");
    }

    @Test
    void eachEpochCoversEveryImageOnceWithAPartialLastBatch() {
        ImageSet data = numbered(103);
        try (BatchLoader l = new BatchLoader(data, 10, 42, true, 0, 0, 2)) {
            assertEquals(11, l.batchesPerEpoch());
            for (int epoch = 0; epoch < 2; epoch++) {
                boolean[] seen = new boolean[103];
                for (int b = 0; b < 11; b++) {
                    Batch batch = l.next();
                    assertEquals(epoch, batch.epoch());
                    assertEquals(b, batch.index());
                    assertEquals(b == 10 ? 3 : 10, batch.size());
                    assertEquals(batch.size(), batch.flips().length);
                    for (int k = 0; k < batch.size(); k++) {
                        int id = id(batch, k);
                        assertFalse(seen[id], "image " + id + " twice in epoch " + epoch);
                        seen[id] = true;
                        assertEquals(DataOrder.flip(42, epoch, b * 10 + k) ? 1 : 0, batch.flips()[k]);
                    }
                }
                for (boolean s : seen) assertTrue(s);
            }
        }
    }

    @Test
    void startingMidRunGivesTheSameBatchesAsContinuing() {
        ImageSet data = numbered(50);
        List<int[]> straight = new ArrayList<>();
        try (BatchLoader l = new BatchLoader(data, 8, 9, true, 0, 0, 3)) {
            for (int i = 0; i < 20; i++) straight.add(ids(l.next()));
        }
        // 7 batches per epoch: step 10 is epoch 1, batch 3.
        try (BatchLoader l = new BatchLoader(data, 8, 9, true, 1, 3, 1)) {
            for (int i = 10; i < 20; i++) assertArrayEquals(straight.get(i), ids(l.next()), "step " + i);
        }
        // A position at the very end of an epoch rolls over to the next one.
        try (BatchLoader l = new BatchLoader(data, 8, 9, true, 0, 7, 1)) {
            assertArrayEquals(straight.get(7), ids(l.next()));
        }
    }

    static int[] ids(Batch b) {
        int[] out = new int[b.size() + 1];
        for (int k = 0; k < b.size(); k++) out[k] = id(b, k);
        int flips = 0;
        for (int k = 0; k < b.size(); k++) flips = flips * 2 + b.flips()[k];
        out[b.size()] = flips;
        return out;
    }

    @Test
    void noFlipsWhenDisabledAndCloseStopsTheThread() throws InterruptedException {
        BatchLoader l = new BatchLoader(numbered(20), 4, 1, false, 0, 0, 2);
        assertNull(l.next().flips());
        l.close();
        Thread.sleep(50);
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("ddpm-batch-loader") && t.isAlive()),
                "the prefetch thread ends on close");
        assertThrows(IllegalStateException.class, l::next);
    }
}
