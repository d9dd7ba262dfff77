package org.ddpm4j.binding;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;

class NativeSmokeTest {
    @Test
    void cpuBackendRunsTinyUNet() throws Exception {
        UNetConfig cfg = UNetConfig.seed().withBaseWidth(4).withDepth(2).withImage(3, 8, 8);
        try (Backend be = Backends.cpu(2); UNet net = be.createUNet(cfg, 4)) {
            assertEquals("cpu", be.name());
            // Every CPU figure must say which instruction set made it: the device name carries the kernels.
            assertTrue(be.deviceName().matches(".+, (generic|avx2|avx512) kernels"), be.deviceName());
            String cpuinfo = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/cpuinfo"));
            if (cpuinfo.contains(" avx512f") && cpuinfo.contains(" avx512bw") && cpuinfo.contains(" avx512vl")) {
                assertTrue(be.deviceName().endsWith(", avx512 kernels"), "an AVX-512 host: " + be.deviceName());
            }
            assertEquals("conv1.conv.0.weight", net.params().get(0).name());
            float[] x = new float[2 * cfg.sampleSize()];
            for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
            float[] y = net.forward(x, new int[] {3, 700}, 2, true);
            assertEquals(x.length, y.length);
            for (float v : y) assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void badConfigGivesClearError() {
        UNetConfig cfg = UNetConfig.seed().withDepth(4).withImage(3, 8, 8);
        try (Backend be = Backends.cpu(1)) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> be.createUNet(cfg, 2));
            assertTrue(e.getMessage().contains("height"), e.getMessage());
        }
    }
}
