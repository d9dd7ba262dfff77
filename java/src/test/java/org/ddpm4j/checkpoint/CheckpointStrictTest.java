package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainingState;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint reader checks its JSON sections as strictly as its binary ones: each
 * mutant has valid CRCs (so only the JSON is wrong) and must be refused with a message
 * naming the file and the field.
 */
class CheckpointStrictTest {
    @TempDir
    Path dir;
    private byte[] valid;

    /** A checkpoint of a few floats: T = 2, time_dim 2 (the sections' sizes are all the reader can check). */
    static Checkpoint tiny() {
        UNetConfig cfg = UNetConfig.seed().withBaseWidth(2).withDepth(1).withTimesteps(2).withTimeDim(2);
        CheckpointMeta meta = new CheckpointMeta(cfg, Preset.TINY.settings().withSeed(7), DataSpec.cifar(null, Split.TRAIN),
                10, null);
        ModelState m = new ModelState(cfg, new float[] {1, -2, 3}, new float[] {0.5f, 2}, 3, new float[] {0, 1, 0.5f, -1},
                TimeTable.STANDARD);
        return new Checkpoint(meta, m, new OptimizerState(new float[] {1, 2, 3, 4, 5, 6}, 3), new TrainingState(3, 1, 1));
    }

    @BeforeEach
    void writeValid() throws IOException {
        Path f = dir.resolve("valid.ckpt");
        CheckpointFile.write(f, tiny());
        valid = Files.readAllBytes(f);
    }

    /** The valid file with its config (or state) JSON changed by {@code edit}. */
    private byte[] edited(String section, Consumer<JsonObject> edit) {
        JsonObject o = JsonParser.parseString(CheckpointBytes.section(valid, section)).getAsJsonObject();
        edit.accept(o);
        return CheckpointBytes.withSection(valid, section, o.toString());
    }

    private byte[] replaced(String section, String from, String to) {
        String json = CheckpointBytes.section(valid, section);
        assertTrue(json.contains(from), json);
        return CheckpointBytes.withSection(valid, section, json.replace(from, to));
    }

    /** Reading the bytes as a file fails with a message naming the file and containing every part. */
    private String refused(byte[] bytes, String... parts) throws IOException {
        Path f = Files.write(dir.resolve("mutant.ckpt"), bytes);
        CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
        String m = e.getMessage();
        assertTrue(m.startsWith("checkpoint " + f + " is corrupt"), m);
        for (String p : parts) assertTrue(m.contains(p), "expected '" + p + "' in: " + m);
        return m;
    }

    @Test
    void theValidFileReadsBack() throws IOException {
        Checkpoint c = CheckpointFile.read(Files.write(dir.resolve("again.ckpt"), valid));
        CheckpointFileFuzzTest.assertSameCheckpoint(tiny(), c);
    }

    @Test
    void integersThatAreFractionsOrStringsAreRefused() throws IOException {
        refused(replaced("config", "\"batch\":64", "\"batch\":16.9"), "config.training.batch is 16.9, expected an integer");
        refused(replaced("config", "\"batch\":64", "\"batch\":64.0"), "config.training.batch is 64.0, expected an integer");
        refused(replaced("config", "\"batch\":64", "\"batch\":\"64\""), "config.training.batch is the string \"64\"");
        refused(replaced("config", "\"base_width\":2", "\"base_width\":2e0"), "config.model.base_width is 2e0");
        refused(replaced("config", "\"max_steps\":0", "\"max_steps\":99999999999999999999"),
                "config.training.max_steps is 99999999999999999999, too large");
        refused(replaced("config", "\"epochs\":2", "\"epochs\":3000000000"), "config.training.epochs is 3000000000");
        refused(replaced("state", "\"global_step\":3", "\"global_step\":3.5"), "state.global_step is 3.5");
        refused(replaced("state", "\"epoch\":1", "\"epoch\":\"1\""), "state.epoch is the string \"1\"");
    }

    @Test
    void otherTypesAreChecked() throws IOException {
        refused(replaced("config", "\"flip\":true", "\"flip\":\"yes\""), "config.training.flip is the string \"yes\", expected true or false");
        refused(replaced("config", "\"preset\":\"tiny\"", "\"preset\":7"), "config.training.preset is 7, expected a string");
        refused(replaced("config", "\"class\":null", "\"class\":5"), "config.data.class is 5, expected a string or null");
        refused(edited("config", o -> o.getAsJsonObject("training").remove("lr")), "config.training.lr is missing");
        refused(edited("config", o -> o.add("model", new JsonObject())), "config.model.in_channels is missing");
        refused(edited("config", o -> o.addProperty("data", "cifar")), "config.data is the string \"cifar\", expected an object");
        refused(replaced("config", "\"lr\":0.001", "\"lr\":1e999"), "config.training.lr is 1e999, out of range");
        refused(replaced("config", "\"time_table\":\"standard\"", "\"time_table\":\"sine\""),
                "config.time_table is \"sine\", expected one of standard, notebook, imported");
        refused(replaced("config", "\"split\":\"train\"", "\"split\":\"TRAIN\""), "config.data.split is \"TRAIN\"");
    }

    @Test
    void impossibleValuesAreRefused() throws IOException {
        refused(replaced("config", "\"timesteps\":2", "\"timesteps\":0"), "timesteps 0, expected at least 2");
        refused(replaced("config", "\"in_channels\":3", "\"in_channels\":-3"), "in_channels -3, expected 1 or 3");
        refused(replaced("config", "\"depth\":1", "\"depth\":40"), "depth 40");
        refused(replaced("config", "\"height\":32", "\"height\":-32"), "an image of -32x32");
        refused(edited("config", o -> o.getAsJsonObject("model").addProperty("beta_start", 0.5)), "betas 0.5..0.02");
        refused(replaced("config", "\"batch\":64", "\"batch\":0"), "out of range (batch must be >= 1, got 0)");
        refused(replaced("config", "\"images\":10", "\"images\":-10"), "config.data.images is -10");
        refused(replaced("state", "\"position\":1", "\"position\":-1"), "state.position is -1, expected a non-negative integer");
        refused(replaced("state", "\"seed\":7", "\"seed\":8"), "its state has seed 8 but its config 7");
    }

    @Test
    void jsonMustBeStrictWithoutDuplicateKeys() throws IOException {
        refused(replaced("config", "\"batch\":64", "\"batch\":64,\"batch\":1"), "the key \"batch\" twice", "$.training.batch");
        refused(replaced("state", "\"epoch\":1", "\"epoch\":1,\"epoch\":1"), "section 'state' has the key \"epoch\" twice");
        refused(replaced("config", "\"lr\":0.001", "\"lr\":NaN"), "section 'config' is not valid JSON");
        refused(replaced("config", "\"flip\":true", "'flip':true"), "section 'config' is not valid JSON");
        refused(replaced("config", "\"preset\":\"tiny\"", "\"preset\":\"\\ud800\""), "unpaired UTF-16 surrogate");
        String state = CheckpointBytes.section(valid, "state");
        refused(CheckpointBytes.withSection(valid, "state", state + " []"), "section 'state' is not valid JSON");
        refused(CheckpointBytes.withSection(valid, "state", "[" + state + "]"), "section 'state' is not a JSON object");
        byte[] bad = state.getBytes(StandardCharsets.UTF_8);
        bad[state.indexOf('3')] = (byte) 0xb3;
        refused(CheckpointBytes.withSection(valid, "state", bad), "section 'state' is not valid UTF-8");
    }

    @Test
    void keysWithLineBreaksStayOnOneLineInMessages() throws IOException {
        // Found by the fuzzer: the JSON path of a duplicate key held another key's line break.
        String m = refused(replaced("config", "\"in_channels\":3", "\"in\\nx\":{\"depth\":1,\"depth\":2},\"in_channels\":3"),
                "the key \"depth\" twice (at $.model.in?x.depth)");
        assertFalse(m.contains("\n"), m);
    }

    @Test
    void sectionSizesMustMatchTheConfig() throws IOException {
        byte[] shortTable = CheckpointBytes.withSection(valid, "time_table", new byte[12]);
        refused(shortTable, "section 'time_table' holds 3 floats, its config's timesteps x time_dim is 4");
        refused(CheckpointBytes.withSection(valid, "adam", new byte[20]), "section 'adam' holds 5 floats, expected twice the 3 params");
        refused(CheckpointBytes.withSection(valid, "params", new byte[7]), "section 'params' has 7 bytes, not a whole number of floats");
    }

    @Test
    void hugeLengthsAreRefusedBeforeAnythingIsAllocated() throws IOException {
        int params = SafeTensorsStrictTest.indexOf(valid, "params") + "params".length();
        for (long len : new long[] {Long.MAX_VALUE - 2, 1L << 40, -5}) {
            byte[] b = valid.clone();
            ByteBuffer.wrap(b, params, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(len);
            Path f = Files.write(dir.resolve("huge.ckpt"), b);
            CheckpointException e = assertThrows(CheckpointException.class, () -> CheckpointFile.read(f));
            assertTrue(e.getMessage().startsWith("checkpoint " + f + " is truncated: section 'params' needs "), e.getMessage());
        }
    }

    @Test
    void everySingleBitFlipIsRefusedCleanly() throws IOException {
        // The CRCs catch every flip in a payload; flips elsewhere hit the magic, version, names or lengths.
        for (int i = 0; i < valid.length; i++) {
            for (int bit = 0; bit < 8; bit++) {
                byte[] b = Arrays.copyOf(valid, valid.length);
                b[i] ^= (byte) (1 << bit);
                int at = i, flipped = bit;
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> CheckpointFile.read("flip.ckpt", new org.ddpm4j.testing.MemoryChannel(b)), "byte " + at + " bit " + flipped);
                assertTrue(e.getMessage().contains("flip.ckpt"), e.getMessage());
            }
        }
    }
}
