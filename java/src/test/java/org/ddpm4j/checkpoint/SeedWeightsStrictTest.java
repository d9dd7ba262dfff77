package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.Map;
import org.ddpm4j.checkpoint.SafeTensors.Tensor;
import org.ddpm4j.model.UNetConfig;
import org.junit.jupiter.api.Test;

/** The model a safetensors file implies is checked like a checkpoint's: sizes from zero-size tensors, metadata types. */
class SeedWeightsStrictTest {
    static final String FILE = "w.safetensors";

    /** The tensors inferConfig looks at: conv1's weight, one down block and the time table (contents do not matter). */
    private static SafeTensors.Contents contents(long[] conv1, long[] table, Map<String, String> meta) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("conv1.conv.0.weight", new Tensor("conv1.conv.0.weight", "F32", conv1, new byte[0]));
        t.put("down1.conv.conv.0.weight", new Tensor("down1.conv.conv.0.weight", "F32", new long[] {0}, new byte[0]));
        t.put(SeedWeights.TIME_EMBED, new Tensor(SeedWeights.TIME_EMBED, "F32", table, new byte[0]));
        return new SafeTensors.Contents(t, meta);
    }

    private static String refused(SafeTensors.Contents c) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> SeedWeights.inferConfig(c, UNetConfig.seed(), FILE));
        assertTrue(e.getMessage().startsWith(FILE + ": "), e.getMessage());
        return e.getMessage();
    }

    @Test
    void theShapesGiveTheModel() {
        UNetConfig c = SeedWeights.inferConfig(contents(new long[] {16, 3, 3, 3}, new long[] {1000, 100}, Map.of()),
                UNetConfig.seed(), FILE);
        assertEquals(UNetConfig.seed().withBaseWidth(16).withDepth(1), c);
    }

    @Test
    void sizesThatDoNotFitAnIntOrAModelAreRefused() {
        // A zero-size tensor is a valid safetensors entry, so its other dimensions can be anything.
        String m = refused(contents(new long[] {1L << 40, 3, 0, 3}, new long[] {1000, 100}, Map.of()));
        assertTrue(m.contains("conv1.conv.0.weight has shape [1099511627776, 3, 0, 3], expected positive sizes"), m);
        m = refused(contents(new long[] {16, 5, 3, 3}, new long[] {1000, 100}, Map.of()));
        assertTrue(m.contains("in_channels 5, expected 1 or 3"), m);
        m = refused(contents(new long[] {16, 3, 3, 3}, new long[] {1, 100}, Map.of()));
        assertTrue(m.contains("timesteps 1, expected at least 2"), m);
    }

    @Test
    void theConfigMetadataIsReadStrictly() {
        String json = Configs.toJson(UNetConfig.seed()).toString();
        String m = refused(contents(new long[] {16, 3, 3, 3}, new long[] {1000, 100},
                Map.of(SeedWeights.META_CONFIG, json.replace("\"height\":32", "\"height\":16.9"))));
        assertTrue(m.contains("ddpm4j_config.height is 16.9, expected an integer"), m);
        m = refused(contents(new long[] {16, 3, 3, 3}, new long[] {1000, 100},
                Map.of(SeedWeights.META_CONFIG, json.replace("\"height\":32", "\"height\":32,\"height\":64"))));
        assertTrue(m.contains("ddpm4j_config metadata has the key \"height\" twice"), m);
        m = refused(contents(new long[] {16, 3, 3, 3}, new long[] {1000, 100},
                Map.of(SeedWeights.META_CONFIG, json.replace("\"beta_end\":0.02", "\"beta_end\":2"))));
        assertTrue(m.contains("betas 1.0E-4..2.0, expected 0 < beta_start <= beta_end < 1"), m);
    }
}
