package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.zip.ZipInputStream;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.checkpoint.Weights;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.job.TensorTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SampleFormat;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.testing.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A trained model from Java: PyTorch's eval forward, sampling into memory and into files, writing weights, errors. */
class DiffusionModelTest {
    /** Forward tolerance against PyTorch: |ours - torch| <= ATOL + RTOL * |torch|, elementwise. */
    static final double ATOL = 1e-5, RTOL = 1e-4;

    @TempDir
    static Path dir;
    static Path tiny;
    static Path conditional;

    @BeforeAll
    static void train() {
        List<BufferedImage> pictures = Discs.pictures(16, 11);
        tiny = Discs.tiny().data(TrainingData.images(pictures)).steps(4).outputDir(dir.resolve("tiny")).train().checkpoint();
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 16; i++) names.add(i % 2 == 0 ? "even" : "odd");
        conditional = Discs.tiny().conditional(true).data(TrainingData.images(pictures, names)).steps(2)
                .outputDir(dir.resolve("cond")).train().checkpoint();
    }

    static DiffusionModel cpu(Path file) {
        return DiffusionModel.load(file, Compute.cpu().withThreads(2));
    }

    /** x, t and PyTorch's model.eval()(x, t) from the golden file. */
    record Io(float[] x, int[] t, float[] out) {
        static Io golden() {
            Map<String, SafeTensors.Tensor> io = SafeTensors.read(Golden.io()).tensors();
            SafeTensors.Tensor tt = io.get("t");
            int n = (int) tt.shape()[0];
            int[] t = new int[n];
            ByteBuffer b = ByteBuffer.wrap(tt.data()).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) t[i] = (int) b.getLong(8 * i);
            return new Io(io.get("x").toFloats(), t, io.get("eval_out").toFloats());
        }
    }

    @Test
    void predictNoiseIsPyTorchsEvalForwardAndNeverUpdatesTheStatistics() {
        Io io = Io.golden();
        try (DiffusionModel m = cpu(Golden.weights())) {
            ModelInfo info = m.info();
            assertFalse(info.checkpoint());
            assertEquals(TimeTable.IMPORTED, info.timeTable());
            assertEquals(TensorTable.of(info.config()).numParams(), info.parameters());
            float[] out = m.predictNoise(io.x(), io.t());
            double worst = 0;
            for (int i = 0; i < io.out().length; i++) {
                double err = Math.abs(out[i] - io.out()[i]);
                worst = Math.max(worst, err);
                assertTrue(err <= ATOL + RTOL * Math.abs(io.out()[i]), "element " + i + ": ours " + out[i] + ", torch " + io.out()[i]);
            }
            System.out.printf("predictNoise against PyTorch eval: max |ours - torch| = %.3e over %d values (max |torch| %.3f)%n", worst, out.length,
                    java.util.stream.IntStream.range(0, io.out().length).mapToDouble(i -> Math.abs(io.out()[i])).max().orElse(0));
            // Eval mode: the running statistics are read, never written, so a second call (after sampling too) is the same.
            m.sample(SampleRequest.of(2).withSampler(SamplerKind.DDIM, 3));
            assertArrayEquals(out, m.predictNoise(io.x(), io.t()));
            // A smaller batch afterwards: the same numbers for the same images.
            int per = info.config().sampleSize();
            float[] one = m.predictNoise(java.util.Arrays.copyOf(io.x(), per), new int[] {io.t()[0]});
            assertArrayEquals(java.util.Arrays.copyOf(out, per), one);
            // More images than a device batch go through in turns, with the same numbers.
            int n = io.t().length, times = DiffusionModel.PREDICT_BATCH / n + 2;
            float[] xs = new float[times * io.x().length];
            int[] ts = new int[times * n];
            for (int k = 0; k < times; k++) {
                System.arraycopy(io.x(), 0, xs, k * io.x().length, io.x().length);
                System.arraycopy(io.t(), 0, ts, k * n, n);
            }
            float[] many = m.predictNoise(xs, ts);
            for (int k = 0; k < times; k++) {
                assertArrayEquals(out, java.util.Arrays.copyOfRange(many, k * out.length, (k + 1) * out.length), "copy " + k);
            }
        }
    }

    @Test
    void weightsWrittenAsSafetensorsOrACheckpointPredictTheSame(@TempDir Path tmp) {
        Io io = Io.golden();
        try (DiffusionModel m = cpu(Golden.weights())) {
            float[] want = m.predictNoise(io.x(), io.t());
            m.exportSafetensors(tmp.resolve("again.safetensors"));
            m.saveCheckpoint(tmp.resolve("imported.ckpt"), false);
            assertThrows(InvalidInputException.class, () -> m.saveCheckpoint(tmp.resolve("imported.ckpt"), false));
            try (DiffusionModel st = cpu(tmp.resolve("again.safetensors")); DiffusionModel ck = cpu(tmp.resolve("imported.ckpt"))) {
                assertArrayEquals(want, st.predictNoise(io.x(), io.t()));
                assertArrayEquals(want, ck.predictNoise(io.x(), io.t()));
                assertTrue(ck.info().checkpoint());
                assertEquals(m.info().config(), ck.info().config());
            }
        }
    }

    @Test
    void samplesAreInRangeTheSameForAnyBatchAndMatchTheirPicturesAndBytes() {
        try (DiffusionModel m = cpu(tiny)) {
            assertEquals(Weights.EMA, m.info().weights(), "the EMA by default");
            assertTrue(m.info().hasEma());
            assertEquals(4, m.info().trainedSteps());
            List<long[]> progress = new ArrayList<>();
            SampleRequest r = SampleRequest.of(5).withSeed(3).withSampler(SamplerKind.DDIM, 10).withMidStep(20)
                    .withListener((done, total) -> progress.add(new long[] {done, total}));
            Samples a = m.sample(r.withBatch(5));
            Samples b = m.sample(r.withBatch(2));
            assertArrayEquals(a.values(), b.values(), "image k depends on (seed, k) only");
            assertFalse(java.util.Arrays.equals(a.values(), m.sample(r.withSeed(4)).values()), "another seed, other images");
            assertEquals(5, a.count());
            assertEquals(3, a.channels());
            for (float v : a.values()) assertTrue(v >= -1 && v <= 1, "clipped to [-1, 1]: " + v);
            long[] last = progress.get(progress.size() - 1);
            assertEquals(last[1], last[0], "the listener hears the end");
            assertEquals(5L * 10, last[1], "5 images x 10 steps");

            float[] v = a.values();
            byte[] hwc = a.bytesHwc();
            int hw = 32 * 32;
            for (int k : new int[] {0, 4}) {
                BufferedImage img = a.image(k);
                for (int i : new int[] {0, 77, 1023}) {
                    int rgb = img.getRGB(i % 32, i / 32);
                    for (int c = 0; c < 3; c++) {
                        int want = (int) Math.max(0, Math.min(255, Math.round((v[(k * 3 + c) * hw + i] + 1.0) * 127.5)));
                        assertEquals(want, (rgb >> (16 - 8 * c)) & 0xff, "image " + k + " pixel " + i + " channel " + c);
                        assertEquals(want, hwc[(k * hw + i) * 3 + c] & 0xff, "bytes " + k + "/" + i + "/" + c);
                    }
                }
            }
            assertEquals(5, a.images().size());
            assertEquals(20, a.midStep(), "DDIM visits t = 20 of 40 with 10 steps");
            assertNotNull(a.midGrid());
            assertEquals(11, a.stripTimes().length, "x_T and 10 steps");
            assertEquals(5 * 32 + 6 * 2, a.strip().getHeight(), "a strip row for each of the 5 images");
            assertEquals(3 * 32 + 4 * 2, a.grid().getWidth(), "3x2 grid with 2-pixel borders");
        }
    }

    @Test
    void filesHoldWhatSampleReturns(@TempDir Path tmp) throws Exception {
        try (DiffusionModel m = cpu(tiny)) {
            SampleRequest r = SampleRequest.of(6).withSeed(9).withSampler(SamplerKind.DDIM, 5).withBatch(4);
            SampleFiles f = m.writeSamples(r, tmp.resolve("s"), EnumSet.of(SampleFormat.NPZ, SampleFormat.PNG), false);
            assertNull(f.grid());
            assertEquals(tmp.resolve("s/sample-00005.png"), f.pngFile(5));
            assertTrue(Files.exists(f.pngFile(5)));
            byte[] npz;
            try (ZipInputStream z = new ZipInputStream(Files.newInputStream(f.npz()))) {
                assertEquals("arr_0.npy", z.getNextEntry().getName());
                npz = z.readAllBytes();
            }
            byte[] want = m.sample(r).bytesHwc();
            assertArrayEquals(want, java.util.Arrays.copyOfRange(npz, npz.length - want.length, npz.length), "arr_0 is bytesHwc()");
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> m.writeSamples(r, tmp.resolve("s"), EnumSet.of(SampleFormat.NPZ), false));
            assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        }
    }

    @Test
    void aStopSignalCancelsSamplingAndLeavesNoFolder(@TempDir Path tmp) {
        try (DiffusionModel m = cpu(tiny)) {
            SampleRequest r = SampleRequest.of(4).withStop(() -> true);
            assertThrows(CancellationException.class, () -> m.sample(r));
            assertThrows(CancellationException.class, () -> m.writeSamples(r, tmp.resolve("s"), EnumSet.of(SampleFormat.GRID), false));
            assertFalse(Files.exists(tmp.resolve("s")));
        }
    }

    @Test
    void aConditionalModelDrawsAClassByNameAndPredictsWithLabels() {
        try (DiffusionModel m = cpu(conditional)) {
            assertEquals(List.of("even", "odd"), m.info().classNames());
            SampleRequest r = SampleRequest.of(2).withSampler(SamplerKind.DDIM, 4).withGuidance(3);
            assertArrayEquals(m.sample(r.withClass("odd")).values(), m.sample(r.withClass("1")).values(), "a name or its label");
            assertFalse(java.util.Arrays.equals(m.sample(r.withClass("odd")).values(), m.sample(r.withClass("even")).values()));
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> m.sample(r.withClass("zebra")));
            assertTrue(e.getMessage().contains("unknown class 'zebra'; the classes are: even, odd"), e.getMessage());
            float[] x = new float[2 * 3 * 32 * 32];
            int[] t = {5, 30};
            assertFalse(java.util.Arrays.equals(m.predictNoise(x, t, new int[] {0, 0}), m.predictNoise(x, t, new int[] {1, 1})));
            assertArrayEquals(m.predictNoise(x, t), m.predictNoise(x, t, new int[] {2, 2}), "null labels are the null class");
            e = assertThrows(InvalidInputException.class, () -> m.predictNoise(x, t, new int[] {0, 3}));
            assertTrue(e.getMessage().contains("labels[1] = 3 is outside [0, 2]"), e.getMessage());
        }
    }

    @Test
    void badInputIsTypedAndNamed(@TempDir Path tmp) throws Exception {
        Path missing = tmp.resolve("nope.ckpt");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> DiffusionModel.load(missing));
        assertEquals(missing + " does not exist", e.getMessage());
        Path text = Files.writeString(tmp.resolve("notes.txt"), "not a model");
        e = assertThrows(InvalidInputException.class, () -> DiffusionModel.load(text));
        assertTrue(e.getMessage().contains("is not a ddpm4j checkpoint"), e.getMessage());
        DiffusionModel m = cpu(tiny);
        UNetConfig cfg = m.info().config();
        float[] one = new float[cfg.sampleSize()];
        e = assertThrows(InvalidInputException.class, () -> m.predictNoise(one, new int[] {40}));
        assertEquals("predictNoise: t[0] = 40 is outside [0, 40)", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> m.predictNoise(new float[7], new int[] {0}));
        assertTrue(e.getMessage().contains("expected a positive multiple of 3072"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> m.predictNoise(one, new int[] {0}, new int[] {0}));
        assertTrue(e.getMessage().contains("labels need a class-conditional model"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> m.sample(SampleRequest.of(1).withClass("ship")));
        assertTrue(e.getMessage().contains("class needs a class-conditional model"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> m.sample(SampleRequest.of(1).withSampler(SamplerKind.DDIM, 41)));
        assertTrue(e.getMessage().contains("samplingSteps must be in [1, 40]"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> SampleRequest.of(0));
        assertEquals("count must be >= 1, got 0", e.getMessage(), "the Java API's names");
        assertEquals("--count must be >= 1, got 0", e.message(Setting::flag), "the command line's names");
        assertEquals(List.of(Setting.COUNT), e.settings());
        e = assertThrows(InvalidInputException.class, () -> DiffusionModel.load(tiny, Compute.cpu(),
                LoadOptions.defaults().withWeights(Weights.EMA).withImageSize(1)));
        assertEquals("imageSize must be >= 2, got 1", e.getMessage());
        DeviceUnavailableException d = null;
        if (org.ddpm4j.binding.Backends.cudaUsable(null) != null) {
            try (DiffusionModel onCuda = DiffusionModel.load(tiny, Compute.cuda())) {
                d = assertThrows(DeviceUnavailableException.class, () -> onCuda.predictNoise(one, new int[] {0}));
            }
            assertTrue(d.getMessage().startsWith("CUDA is not available"), d.getMessage());
        }
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> m.predictNoise(one, new int[] {0}));
    }
}
