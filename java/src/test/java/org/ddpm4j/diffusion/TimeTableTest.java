package org.ddpm4j.diffusion;

import static org.junit.jupiter.api.Assertions.*;

import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;

class TimeTableTest {
    @Test
    void standardTableIsWhatTheNativeInitWrites() {
        UNetConfig cfg = UNetConfig.seed().withBaseWidth(2).withDepth(1).withImage(3, 8, 8).withTimesteps(300).withTimeDim(20);
        try (Backend be = Backends.cpu(1); UNet net = be.createUNet(cfg, 1)) {
            net.init(3);
            float[] nat = net.timeTable(null);
            float[] java = TimeTable.standard(300, 20);
            for (int i = 0; i < nat.length; i++) assertEquals(nat[i], java[i], 1e-6f, "element " + i);
        }
    }

    /** The notebook's function run in PyTorch: scripts/make_time_table_golden.py. */
    private static final Map<String, SafeTensors.Tensor> NOTEBOOK = SafeTensors.read(golden()).tensors();

    private static Path golden() {
        try {
            return Path.of(TimeTableTest.class.getResource("/golden/notebook_time_table.safetensors").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing test resource notebook_time_table.safetensors", e);
        }
    }

    /**
     * Distance in units in the last place. torch's float32 sin/cos (SLEEF) are within 1 ulp
     * of the correctly rounded value, and the rounded double Math.sin/cos are too: they may
     * differ by 1 ulp.
     */
    static int ulps(float a, float b) {
        int ia = Float.floatToIntBits(a), ib = Float.floatToIntBits(b);
        if (ia < 0) ia = Integer.MIN_VALUE - ia;  // order negative floats below positive ones
        if (ib < 0) ib = Integer.MIN_VALUE - ib;
        return Math.abs(ia - ib);
    }

    @Test
    void ulpsCountsFloatSteps() {
        assertEquals(0, ulps(0.5f, 0.5f));
        assertEquals(1, ulps(0.5f, Math.nextUp(0.5f)));
        assertEquals(1, ulps(-0.5f, Math.nextDown(-0.5f)));
        assertEquals(2, ulps(Float.MIN_VALUE, -Float.MIN_VALUE));
        assertEquals(0, ulps(0f, -0f));
    }

    @Test
    void notebookTableMatchesTheNotebookRunInPyTorch() {
        int n = 1000, d = 100;
        float[] java = TimeTable.notebook(n, d);
        long[] rows = longs(NOTEBOOK.get("rows_1000x100"));
        float[] torch = NOTEBOOK.get("table_1000x100").toFloats();
        int exact = 0;
        for (int r = 0; r < rows.length; r++) {
            for (int j = 0; j < d; j++) {
                float want = torch[r * d + j], got = java[(int) rows[r] * d + j];
                assertTrue(ulps(want, got) <= 1, "row " + rows[r] + " col " + j + ": ours " + got + ", torch " + want);
                if (want == got) exact++;
            }
        }
        // Every row: its sum moves by at most d ulps (each value is in [-1, 1]) when all agree to 1 ulp.
        double[] sums = doubles(NOTEBOOK.get("row_sums_1000x100"));
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int j = 0; j < d; j++) sum += java[i * d + j];
            worst = Math.max(worst, Math.abs(sum - sums[i]));
            assertEquals(sums[i], sum, d * Math.ulp(1f), "sum of row " + i);
        }
        System.out.printf("notebook table: %d of %d sampled values bit-exact, the rest 1 ulp; worst row-sum error %.3g%n",
                exact, rows.length * d, worst);
    }

    @Test
    void smallNotebookTablesMatchIncludingOddTimesteps() {
        for (String name : List.of("table_2x3", "table_6x4", "table_7x4", "table_9x5")) {
            SafeTensors.Tensor t = NOTEBOOK.get(name);
            int n = (int) t.shape()[0], d = (int) t.shape()[1];
            float[] torch = t.toFloats(), java = TimeTable.notebook(n, d);
            assertEquals(torch.length, java.length, name);
            for (int i = 0; i < torch.length; i++) {
                assertTrue(ulps(torch[i], java[i]) <= 1, name + " row " + i / d + " col " + i % d + ": ours " + java[i]
                        + ", torch " + torch[i]);
            }
        }
        // With an odd n the notebook leaves odd rows from 3 on as raw angles: row 3 of 7x4 starts at 3.
        assertEquals(3f, TimeTable.notebook(7, 4)[3 * 4]);
    }

    @Test
    void notebookTableHoldsCosinesOfTheOddRowsOwnAngles() {
        int n = 1000, d = 100;
        float[] nb = TimeTable.notebook(n, d);
        for (int j = 0; j < d; j++) assertEquals(0f, nb[j], "row 0 = sin(0)");
        assertEquals((float) Math.cos(1.0), nb[d], "row 1, col 0 = cos(1), not cos(sin(0)) = 1");
        for (int i = 1; i < n; i += 2) {
            for (int j = 0; j < d; j++) {
                float angle = (float) (i / Math.pow(10_000, 2.0 * j / d));
                assertEquals((float) Math.cos(angle), nb[i * d + j], "row " + i + " col " + j);
            }
        }
        for (float v : nb) assertTrue(v >= -1f && v <= 1f, "bounded: " + v);
        float[] st = TimeTable.standard(n, d);
        double diff = 0;
        for (int i = 0; i < nb.length; i++) diff = Math.max(diff, Math.abs(nb[i] - st[i]));
        assertTrue(diff > 0.5, "the notebook's table is not the standard one");
    }

    @Test
    void notebookTableNeedsTwoTimesteps() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TimeTable.notebook(1, 4));
        assertTrue(e.getMessage().contains("at least 2 timesteps"), e.getMessage());
    }

    private static long[] longs(SafeTensors.Tensor t) {
        assertEquals("I64", t.dtype(), t.name());
        LongBuffer b = ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        long[] v = new long[b.remaining()];
        b.get(v);
        return v;
    }

    private static double[] doubles(SafeTensors.Tensor t) {
        assertEquals("F64", t.dtype(), t.name());
        DoubleBuffer b = ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer();
        double[] v = new double[b.remaining()];
        b.get(v);
        return v;
    }
}
