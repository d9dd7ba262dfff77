package org.ddpm4j.diffusion;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.Golden;
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

    @Test
    void notebookTableMatchesPyTorch() {
        SafeTensors.Tensor t = SafeTensors.read(Golden.weights()).tensors().get("time_embed.weight");
        float[] torch = t.toFloats();
        int n = (int) t.shape()[0], d = (int) t.shape()[1];
        float[] java = TimeTable.notebook(n, d);
        for (int i = 0; i < torch.length; i++) assertEquals(torch[i], java[i], 1e-6f, "row " + i / d + " col " + i % d);
    }

    @Test
    void notebookTableIsNotTheStandardOne() {
        float[] nb = TimeTable.notebook(1000, 100);
        float[] st = TimeTable.standard(1000, 100);
        for (int j = 0; j < 100; j++) {
            assertEquals(0f, nb[j], "row 0 = sin(0)");
            assertEquals(1f, nb[100 + j], 1e-7f, "row 1 = cos(sin(row 0)) = 1");
        }
        // Odd row 999 holds cos(sin(row 2)); odd row 3 holds cos(sin(row 998)).
        for (int j = 0; j < 100; j++) {
            double raw2 = (float) (2 / Math.pow(10_000, 2.0 * j / 100));
            assertEquals((float) Math.cos((float) Math.sin(raw2)), nb[999 * 100 + j], 1e-6f);
        }
        double diff = 0;
        for (int i = 0; i < nb.length; i++) diff = Math.max(diff, Math.abs(nb[i] - st[i]));
        assertTrue(diff > 0.5, "the tables differ");
    }
}
