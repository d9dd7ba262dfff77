package org.ddpm4j.job;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Both directions against PyTorch, with golden files from scripts/make_safetensors_golden.py:
 * the notebook's UNet (base 2, depth 4, n_steps 100, time_emb_dim 32, random BatchNorm
 * statistics, the notebook's time table) saved by safetensors.torch.save_file, an input,
 * timesteps and PyTorch's eval-mode output.
 */
class SafetensorsGoldenTest {
    /** Forward tolerance: |ours - torch| <= ATOL + RTOL * |torch|, elementwise (float32, different summation orders). */
    static final double ATOL = 1e-5, RTOL = 1e-4;

    static Backend be;

    @BeforeAll
    static void open() {
        be = Backends.cpu(2);
    }

    @AfterAll
    static void close() {
        be.close();
    }

    @Test
    void importedNotebookModelMatchesPyTorchEvalForward() {
        ModelState st = ModelFiles.readSafetensors(Golden.weights(), UNetConfig.seed());
        UNetConfig cfg = st.config();
        assertEquals(new UNetConfig(3, 32, 32, 2, 4, 32, 100, 1e-4f, 0.02f), cfg, "shape read from the weights");
        assertEquals(1234, st.bnBatches());
        assertEquals(TimeTable.IMPORTED, st.timeTableKind());
        Map<String, SafeTensors.Tensor> io = SafeTensors.read(Golden.io()).tensors();
        float[] x = io.get("x").toFloats();
        SafeTensors.Tensor tt = io.get("t");
        int n = (int) tt.shape()[0];
        int[] t = new int[n];
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(tt.data()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) t[i] = (int) b.getLong(8 * i);
        float[] ref = io.get("eval_out").toFloats();
        try (UNet net = be.createUNet(cfg, n)) {
            st.applyTo(net);
            float[] table = net.timeTable(null);
            assertArrayEquals(SafeTensors.read(Golden.weights()).tensors().get("time_embed.weight").toFloats(), table,
                    "the imported model keeps the table it was trained with");
            assertFalse(java.util.Arrays.equals(TimeTable.standard(100, 32), table));
            float[] out = net.forward(x, t, n, false);
            double worst = 0;
            for (int i = 0; i < ref.length; i++) {
                double err = Math.abs(out[i] - ref[i]);
                worst = Math.max(worst, err);
                assertTrue(err <= ATOL + RTOL * Math.abs(ref[i]), "element " + i + ": ours " + out[i] + ", torch " + ref[i]);
            }
            System.out.printf("golden eval forward: max |ours - torch| = %.3g over %d values%n", worst, ref.length);
        }
    }

    @Test
    void exportReproducesTheGoldenFile(@TempDir Path dir) {
        ModelState st = ModelFiles.readSafetensors(Golden.weights(), UNetConfig.seed());
        Path out = dir.resolve("export.safetensors");
        ModelFiles.writeSafetensors(st, out);
        Map<String, SafeTensors.Tensor> gold = SafeTensors.read(Golden.weights()).tensors();
        Map<String, SafeTensors.Tensor> ours = SafeTensors.read(out).tensors();
        assertEquals(gold.keySet(), ours.keySet(), "the same state_dict names");
        for (String name : gold.keySet()) {
            SafeTensors.Tensor g = gold.get(name), o = ours.get(name);
            assertEquals(g.dtype(), o.dtype(), name);
            assertArrayEquals(g.shape(), o.shape(), name);
            assertArrayEquals(g.data(), o.data(), name + ": values bit for bit");
        }
        assertEquals("I64", ours.get("down3.conv.conv.4.num_batches_tracked").dtype());
        assertEquals(0, ours.get("down3.conv.conv.4.num_batches_tracked").shape().length, "a scalar");
        assertEquals("F32", ours.get("time_embed.weight").dtype());
        // And it imports again to the same state.
        ModelState again = ModelFiles.readSafetensors(out, UNetConfig.seed());
        assertArrayEquals(st.params(), again.params());
        assertArrayEquals(st.buffers(), again.buffers());
    }

    @Test
    void importIsStrictAboutNamesAndShapes(@TempDir Path dir) {
        SafeTensors.Contents gold = SafeTensors.read(Golden.weights());
        List<SafeTensors.Tensor> missing = new ArrayList<>(gold.tensors().values());
        missing.removeIf(t -> t.name().equals("up2.conv.conv.3.weight"));
        Path f1 = dir.resolve("missing.safetensors");
        SafeTensors.write(f1, missing, Map.of());
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFiles.readSafetensors(f1, UNetConfig.seed()));
        assertTrue(e.getMessage().contains("missing up2.conv.conv.3.weight"), e.getMessage());

        List<SafeTensors.Tensor> extra = new ArrayList<>(gold.tensors().values());
        extra.add(SafeTensors.Tensor.f32("head.weight", new long[] {2}, new float[2], 0, 2));
        Path f2 = dir.resolve("extra.safetensors");
        SafeTensors.write(f2, extra, Map.of());
        e = assertThrows(CheckpointException.class, () -> ModelFiles.readSafetensors(f2, UNetConfig.seed()));
        assertTrue(e.getMessage().contains("unexpected head.weight"), e.getMessage());

        List<SafeTensors.Tensor> reshaped = new ArrayList<>();
        for (SafeTensors.Tensor t : gold.tensors().values()) {
            reshaped.add(t.name().equals("last_conv.bias") ? SafeTensors.Tensor.f32(t.name(), new long[] {1, 3}, t.toFloats(), 0, 3) : t);
        }
        Path f3 = dir.resolve("shape.safetensors");
        SafeTensors.write(f3, reshaped, Map.of());
        e = assertThrows(CheckpointException.class, () -> ModelFiles.readSafetensors(f3, UNetConfig.seed()));
        assertTrue(e.getMessage().contains("last_conv.bias has shape [1, 3], the model needs [3]"), e.getMessage());
    }
}
