package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.job.TensorTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;

/**
 * The Java tensor table that reads and writes safetensors without a native model is the native
 * UNet's, name for name, shape for shape, offset for offset, over the shapes the model takes.
 */
class TensorTableTest {
    static final List<UNetConfig> CONFIGS = List.of(
            UNetConfig.seed(),
            UNetConfig.seed().withBaseWidth(16).withDepth(2),
            UNetConfig.seed().withBaseWidth(3).withDepth(1).withTimeDim(7).withTimesteps(10),
            UNetConfig.seed().withBaseWidth(2).withDepth(5).withImage(1, 64, 32),
            UNetConfig.seed().withBaseWidth(4).withDepth(3).withSchedule(NoiseSchedule.COSINE).withNumClasses(10),
            UNetConfig.seed().withBaseWidth(2).withDepth(2).withNumClasses(1));

    @Test
    void matchesTheNativeTables() {
        try (Backend be = Backends.cpu(1)) {
            for (UNetConfig cfg : CONFIGS) {
                TensorTable java = TensorTable.of(cfg);
                try (UNet net = be.createUNet(cfg, 1)) {
                    assertEquals(net.params(), java.params(), "parameters of " + cfg);
                    assertEquals(net.buffers(), java.buffers(), "BatchNorm buffers of " + cfg);
                    assertEquals(net.numParams(), java.numParams(), cfg.toString());
                    assertEquals(net.numBuffers(), java.numBuffers(), cfg.toString());
                }
            }
        }
    }

    @Test
    void parameterCountsAreThePyTorchModels() {
        // sum(p.numel() for p in SeedUNet(...).parameters() if p.requires_grad), scripts/seed_unet.py (the table is frozen)
        assertEquals(33_078_526, TensorTable.of(UNetConfig.seed()).numParams());
        assertEquals(139_118, TensorTable.of(UNetConfig.seed().withBaseWidth(16).withDepth(2)).numParams());
    }

    @Test
    void anUnresolvedClassCountIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> TensorTable.of(UNetConfig.seed().withNumClasses(UNetConfig.CLASSES_FROM_DATA)));
    }
}
