package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import com.google.gson.JsonObject;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.job.ModelFiles;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.TestData;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainSettings;
import org.ddpm4j.train.TrainingState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint with the features beyond the notebook: the EMA section (format
 * version 2), the schedule, class count, class names, EMA decay and label dropout in
 * its configuration; version-1 files (written before them) still load; the weights a
 * command takes; safetensors of a conditional model.
 */
class CheckpointFeaturesTest {
    static final UNetConfig COND = TestData.tiny(30).withSchedule(NoiseSchedule.COSINE).withNumClasses(10);

    static Checkpoint checkpoint(boolean ema) {
        try (Backend be = Backends.cpu(1); UNet net = be.createUNet(COND, 2)) {
            net.init(3);
            if (ema) {
                net.setEma(0.99);
                float[] e = net.params(null);
                for (int i = 0; i < e.length; i++) e[i] *= 0.5f;
                net.setEmaParams(e);
                float[] b = net.bufferValues(null);
                for (int i = 0; i < b.length; i++) b[i] += 0.25f;
                net.setEmaBuffers(b);
            }
            TrainSettings s = Preset.TINY.settings().withEmaDecay(ema ? 0.99 : 0).withCondDrop(0.2);
            CheckpointMeta meta = new CheckpointMeta(COND, s, DataSpec.cifar(null, Split.TRAIN), 50000, null,
                    List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"));
            return new Checkpoint(meta, ModelState.capture(net, TimeTable.STANDARD), OptimizerState.capture(net),
                    new TrainingState(7, 0, 7));
        }
    }

    @Test
    void theEmaAndTheNewSettingsRoundTrip(@TempDir Path dir) {
        Checkpoint c = checkpoint(true);
        Path f = dir.resolve("model.ckpt");
        CheckpointFile.write(f, c);
        Checkpoint r = CheckpointFile.read(f);
        assertEquals(COND, r.meta().model(), "schedule and class count");
        assertEquals(0.99, r.meta().training().emaDecay());
        assertEquals(0.2, r.meta().training().condDrop());
        assertEquals(c.meta().classNames(), r.meta().classNames());
        assertArrayEquals(c.model().emaParams(), r.model().emaParams());
        assertArrayEquals(c.model().emaBuffers(), r.model().emaBuffers());
        assertFalse(java.util.Arrays.equals(c.model().emaBuffers(), c.model().buffers()));
        assertArrayEquals(c.model().params(), r.model().params());
        Checkpoint plain = checkpoint(false);
        CheckpointFile.write(f, plain);
        assertFalse(CheckpointFile.read(f).model().hasEma(), "an empty ema section reads as no EMA");
    }

    @Test
    void resizeModesRoundTripAndOlderBooleansReadAsWhatTheyTrainedOn() {
        CheckpointMeta m = checkpoint(false).meta();
        for (Resize r : Resize.values()) {
            CheckpointMeta with = new CheckpointMeta(m.model(), m.training(),
                    new DataSpec(DataSpec.FOLDER, "pics", Split.TRAIN, null, 0, r), 10, null, null);
            assertEquals(r, CheckpointMeta.fromJson(with.toJson(TimeTable.STANDARD)).data().resize());
        }
        // Files written before the crop mode hold a boolean: true scaled the whole picture.
        JsonObject o = m.toJson(TimeTable.STANDARD);
        o.getAsJsonObject("data").addProperty("resize", true);
        assertEquals(Resize.STRETCH, CheckpointMeta.fromJson(o).data().resize());
        o.getAsJsonObject("data").addProperty("resize", false);
        assertEquals(Resize.NONE, CheckpointMeta.fromJson(o).data().resize());
    }

    @Test
    void weightsChooseTheEmaByDefault() {
        ModelState m = checkpoint(true).model();
        assertEquals(Weights.EMA, m.resolve(null));
        assertArrayEquals(m.emaParams(), m.select(null).params());
        assertArrayEquals(m.emaParams(), m.select(Weights.EMA).params());
        assertArrayEquals(m.emaBuffers(), m.select(null).buffers(), "with the averaged BatchNorm statistics");
        assertArrayEquals(m.params(), m.select(Weights.RAW).params());
        assertArrayEquals(m.buffers(), m.select(Weights.RAW).buffers());
        assertNull(m.select(null).emaParams(), "the chosen weights carry no second set");
        ModelState raw = checkpoint(false).model();
        assertEquals(Weights.RAW, raw.resolve(null));
        assertSame(raw, raw.select(null));
        CheckpointException e = assertThrows(CheckpointException.class, () -> raw.select(Weights.EMA));
        assertTrue(e.getMessage().contains("weights raw"), e.getMessage());
    }

    /**
     * golden/v1_tiny.ckpt was written by ddpm4j before the EMA existed (format version 1,
     * no schedule, class count, EMA decay or label dropout in its configuration): it loads
     * as a linear, unconditional model without an EMA.
     */
    @Test
    void versionOneCheckpointsStillLoad() throws Exception {
        Path v1 = Path.of(getClass().getResource("/golden/v1_tiny.ckpt").toURI());
        Checkpoint c = CheckpointFile.read(v1);
        assertEquals(NoiseSchedule.LINEAR, c.model().config().schedule());
        assertEquals(0, c.model().config().numClasses());
        assertFalse(c.model().hasEma());
        assertEquals(0.0, c.meta().training().emaDecay());
        assertEquals(TrainSettings.DEFAULT_COND_DROP, c.meta().training().condDrop());
        assertNull(c.meta().classNames());
        assertTrue(c.progress().globalStep() > 0);
        try (Backend be = Backends.cpu(1); UNet net = be.createUNet(c.model().config(), 2)) {
            c.model().applyTo(net);
            c.optimizer().applyTo(net);
            assertArrayEquals(c.model().params(), net.params(null));
        }
    }

    @Test
    void aConditionalModelTravelsThroughSafetensors(@TempDir Path dir) {
        ModelState m = checkpoint(true).model().select(null);
        Path st = dir.resolve("cond.safetensors");
        try (Backend be = Backends.cpu(1)) {
            ModelFiles.writeSafetensors(m, st);
            SafeTensors.Contents contents = SafeTensors.read(st);
            assertArrayEquals(new long[] {11, COND.timeDim()}, contents.tensors().get(SeedWeights.CLASS_EMBED).shape());
            ModelState back = ModelFiles.readSafetensors(st, UNetConfig.seed());
            assertEquals(COND, back.config(), "classes from class_embed, the schedule from the metadata");
            assertArrayEquals(m.params(), back.params());
        }
    }
}
