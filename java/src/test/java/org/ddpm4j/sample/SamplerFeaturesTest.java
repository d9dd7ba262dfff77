package org.ddpm4j.sample;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.binding.DdpmCpu;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.model.NoiseLevels;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;

/**
 * The sampler beyond the notebook: DDIM (timesteps as the native ones, deterministic at
 * eta 0, chunking-invariant, mid snapshot and strip on visited steps), DPM-Solver++ (the
 * same, its strip ending at x_0), class-conditional
 * sampling with guidance (half batches, labels per image), and streaming to a sink.
 */
class SamplerFeaturesTest {
    static final UNetConfig CFG = TestData.tiny(40).withSchedule(NoiseSchedule.COSINE);
    static final UNetConfig COND = CFG.withNumClasses(10);

    static SampleResult sample(UNetConfig cfg, int maxBatch, SampleOptions o, ImageSink sink, int keep) {
        try (Backend be = Backends.cpu(2); UNet net = be.createUNet(cfg, maxBatch)) {
            net.init(5);
            return Sampler.run(net, o, null, sink, keep);
        }
    }

    static SampleOptions ddim(int count, int steps, double eta) {
        return new SampleOptions(count, 3, 20, 2, 4).withSampler(SamplerKind.DDIM, steps, eta, false);
    }

    @Test
    void ddimTimestepsAreTheNativeOnes() {
        for (int[] ts : new int[][] {{1000, 50}, {1000, 7}, {40, 40}, {10, 3}, {2, 1}}) {
            assertArrayEquals(DdpmCpu.ddim_timesteps(ts[0], ts[1]), Sampler.ddimTimesteps(ts[0], ts[1]), ts[0] + "/" + ts[1]);
        }
        assertArrayEquals(new int[] {980, 960}, java.util.Arrays.copyOf(Sampler.ddimTimesteps(1000, 50), 2));
        assertThrows(IllegalArgumentException.class, () -> Sampler.ddimTimesteps(10, 11));
    }

    @Test
    void ddimIsDeterministicAtEtaZeroAndIndependentOfChunks() {
        SampleResult a = sample(CFG, 5, ddim(5, 8, 0.0), null, 5), b = sample(CFG, 2, ddim(5, 8, 0.0), null, 5);
        assertArrayEquals(a.images().data(), b.images().data(), "chunks of 2, 2, 1 give the same images");
        assertEquals(8, a.timesteps().length);
        assertArrayEquals(Sampler.ddimTimesteps(40, 8), a.timesteps());
        // The mid snapshot is taken after the largest visited t <= 20 (ts = 35, 30, ..., 0).
        assertEquals(20, a.midTime());
        assertEquals(5, a.mid().count());
        int[] st = a.stripTimes();
        assertEquals(40, st[0]);
        assertEquals(0, st[st.length - 1]);
        for (int i = 1; i < st.length - 1; i++) {
            final int t = st[i];
            assertTrue(java.util.Arrays.stream(a.timesteps()).anyMatch(v -> v == t), "strip frame at a visited t: " + t);
        }
        SampleResult noisy = sample(CFG, 5, ddim(5, 8, 1.0), null, 5);
        assertFalse(java.util.Arrays.equals(a.images().data(), noisy.images().data()), "eta 1 adds noise");
        assertTrue(noisy.images().allFinite());
    }

    static SampleOptions dpm(int count, int steps, SamplerKind kind) {
        return new SampleOptions(count, 3, 20, 2, 4).withSampler(kind, steps, 0.0, false);
    }

    @Test
    void dpmSolverTimestepsAreTheNativeOnes() {
        for (int[] ts : new int[][] {{1000, 20}, {1000, 12}, {1000, 999}, {40, 39}, {40, 7}, {10, 2}, {2, 1}}) {
            assertArrayEquals(DdpmCpu.dpm_solver_timesteps(ts[0], ts[1]), Sampler.dpmSolverTimesteps(ts[0], ts[1]),
                    ts[0] + "/" + ts[1]);
        }
        // diffusers' linspace spacing, numpy's rounding: 832.5 and 166.5 go to the even neighbour.
        assertArrayEquals(new int[] {999, 916, 832, 749, 666, 583, 500, 416, 333, 250, 166, 83}, Sampler.dpmSolverTimesteps(1000, 12));
        assertThrows(IllegalArgumentException.class, () -> Sampler.dpmSolverTimesteps(10, 10));
    }

    @Test
    void dpmSolverIsDeterministicIndependentOfChunksAndEndsTheStripAtX0() {
        SampleResult a = sample(CFG, 5, dpm(5, 8, SamplerKind.DPM_SOLVER), null, 5);
        SampleResult b = sample(CFG, 2, dpm(5, 8, SamplerKind.DPM_SOLVER), null, 5);
        assertArrayEquals(a.images().data(), b.images().data(), "chunks of 2, 2, 1 give the same images");
        assertArrayEquals(Sampler.dpmSolverTimesteps(40, 8), a.timesteps());
        assertTrue(a.images().allFinite());
        // The strip's last frame is x_0: the final (clipped) images, though the last visited t is 5, not 0.
        int[] st = a.stripTimes();
        assertEquals(0, st[st.length - 1]);
        int per = CFG.sampleSize(), frames = st.length;
        float[] lastFrame = java.util.Arrays.copyOfRange(a.strip().data(), (frames - 1) * per, frames * per);
        assertArrayEquals(java.util.Arrays.copyOf(a.images().data(), per), lastFrame);
        // Fewer steps change the images; the SDE variant adds noise, still independent of the chunks.
        assertFalse(java.util.Arrays.equals(a.images().data(), sample(CFG, 5, dpm(5, 4, SamplerKind.DPM_SOLVER), null, 5).images().data()));
        // Third order: other images than 2M, the same for any chunking.
        SampleResult third = sample(CFG, 5, dpm(5, 8, SamplerKind.DPM_SOLVER_3M), null, 5);
        assertFalse(java.util.Arrays.equals(a.images().data(), third.images().data()));
        assertArrayEquals(third.images().data(), sample(CFG, 2, dpm(5, 8, SamplerKind.DPM_SOLVER_3M), null, 5).images().data());
        SampleResult sde = sample(CFG, 5, dpm(5, 8, SamplerKind.DPM_SOLVER_SDE), null, 5);
        assertFalse(java.util.Arrays.equals(a.images().data(), sde.images().data()));
        assertArrayEquals(sde.images().data(), sample(CFG, 3, dpm(5, 8, SamplerKind.DPM_SOLVER_SDE), null, 5).images().data());
        // Default 20 steps (at most T - 1), no eta, at most T - 1 steps.
        assertEquals(20, Sampler.timesteps(dpm(1, 0, SamplerKind.DPM_SOLVER), 40).length);
        assertEquals(9, Sampler.timesteps(dpm(1, 0, SamplerKind.DPM_SOLVER), 10).length);
        assertThrows(IllegalArgumentException.class, () -> new SampleOptions(1, 0, -1, 0, 2).withSampler(SamplerKind.DPM_SOLVER, 8, 0.5, false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Sampler.timesteps(dpm(1, 40, SamplerKind.DPM_SOLVER), 40));
        assertTrue(e.getMessage().contains("must be in [1, 39] for dpm++"), e.getMessage());
    }

    /**
     * Karras sigmas: the run visits the native levels' timesteps, matches the model driven through those
     * levels by hand bit for bit (2M and 3M orders), draws the same images however it is chunked (the SDE's
     * noise keyed by the step's index, so repeated timesteps get fresh noise), differs from the evenly spaced
     * run, and is refused with the samplers it is not for.
     */
    @Test
    void karrasSigmasStepThroughTheNativeLevels() {
        int steps = 8;
        for (SamplerKind kind : new SamplerKind[] {SamplerKind.DPM_SOLVER, SamplerKind.DPM_SOLVER_3M}) {
            SampleOptions o = dpm(3, steps, kind).withKarras(true);
            SampleResult bySampler = sample(CFG, 3, o, null, 3);
            float[] byHand;
            try (Backend be = Backends.cpu(2); UNet net = be.createUNet(CFG, 3)) {
                net.init(5);
                NoiseLevels lv = net.karrasLevels(steps);
                assertArrayEquals(lv.timesteps(), bySampler.timesteps());
                assertArrayEquals(lv.timesteps(), Sampler.visited(net, o));
                assertEquals(CFG.timesteps() - 1, lv.timesteps()[0]);
                assertEquals(0, lv.timesteps()[steps - 1]);
                double[] s = lv.sigmas();
                for (int i = 1; i < steps; i++) assertTrue(s[i] < s[i - 1], "levels descend");
                net.sampleBegin(3, o.seed(), 0);
                for (int i = 0; i < steps; i++) {
                    int order = i == 0 || i == steps - 1 ? 1
                            : kind == SamplerKind.DPM_SOLVER || i == 1 || i == steps - 2 ? 2 : 3;
                    net.sampleStepDpmSolverSigmas(lv.timesteps()[i], s[i], i + 1 < steps ? s[i + 1] : 0,
                            order >= 2 ? s[i - 1] : 0, order == 3 ? s[i - 2] : 0, false, 0f);
                }
                byHand = net.sampleRead(true);
            }
            assertArrayEquals(byHand, bySampler.images().data(), kind.label());
            assertFalse(java.util.Arrays.equals(bySampler.images().data(), sample(CFG, 3, dpm(3, steps, kind), null, 3).images().data()),
                    "other images than the evenly spaced timesteps");
        }
        // 39 levels of a 40-step model: some timesteps repeat near 0. The SDE still draws fresh noise at each
        // step and the same images in chunks of 2, 2, 1.
        SampleOptions many = dpm(5, 39, SamplerKind.DPM_SOLVER_SDE).withKarras(true);
        SampleResult a = sample(CFG, 5, many, null, 5), b = sample(CFG, 2, many, null, 5);
        int[] ts = a.timesteps();
        boolean repeats = false;
        for (int i = 1; i < ts.length; i++) repeats |= ts[i] == ts[i - 1];
        assertTrue(repeats, java.util.Arrays.toString(ts));
        assertTrue(a.images().allFinite());
        assertArrayEquals(a.images().data(), b.images().data());
        for (SamplerKind kind : new SamplerKind[] {SamplerKind.DDPM, SamplerKind.DDIM}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> dpm(1, 0, kind).withKarras(true));
            assertTrue(e.getMessage().contains("is for sampler dpm++, dpm++sde or dpm++3m, not " + kind.label()), e.getMessage());
        }
    }

    /**
     * diffusers' timestep spacings, as its DDIMScheduler and DPMSolverMultistepScheduler (commit 58eb52c0,
     * num_train_timesteps T, steps_offset 0) printed them: {spacing, T, S, DDIM's, DPM-Solver++'s}.
     */
    static final String[][] DIFFUSERS_SPACINGS = {
        {"linspace", "1000", "30", "999,965,930,896,861,827,792,758,723,689,655,620,586,551,517,482,448,413,379,344,310,276,241,207,172,138,103,69,34,0",
            "999,966,932,899,866,832,799,766,733,699,666,633,599,566,533,499,466,433,400,366,333,300,266,233,200,166,133,100,67,33"},
        {"leading", "1000", "30", "957,924,891,858,825,792,759,726,693,660,627,594,561,528,495,462,429,396,363,330,297,264,231,198,165,132,99,66,33,0",
            "960,928,896,864,832,800,768,736,704,672,640,608,576,544,512,480,448,416,384,352,320,288,256,224,192,160,128,96,64,32"},
        {"trailing", "1000", "30", "999,966,932,899,866,832,799,766,732,699,666,632,599,566,532,499,466,432,399,366,332,299,266,232,199,166,132,99,66,32",
            "999,966,932,899,866,832,799,766,732,699,666,632,599,566,532,499,466,432,399,366,332,299,266,232,199,166,132,99,66,32"},
        {"linspace", "1000", "7", "999,832,666,500,333,166,0", "999,856,714,571,428,285,143"},
        {"leading", "1000", "7", "852,710,568,426,284,142,0", "875,750,625,500,375,250,125"},
        {"trailing", "1000", "7", "999,856,713,570,428,285,142", "999,856,713,570,428,285,142"},
        {"linspace", "40", "8", "39,33,28,22,17,11,6,0", "39,34,29,24,20,15,10,5"},
        {"leading", "40", "8", "35,30,25,20,15,10,5,0", "32,28,24,20,16,12,8,4"},
        {"trailing", "40", "8", "39,34,29,24,19,14,9,4", "39,34,29,24,19,14,9,4"},
        {"linspace", "10", "3", "9,4,0", "9,6,3"},
        {"leading", "10", "3", "6,3,0", "6,4,2"},
        {"trailing", "10", "3", "9,6,2", "9,6,2"},
        {"linspace", "1000", "1", "0", "999"},
        {"leading", "1000", "1", "0", "500"},
        {"trailing", "1000", "1", "999", "999"},
    };

    static int[] ints(String csv) {
        return java.util.Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    /**
     * The spacings give diffusers' timesteps; DDIM and DPM-Solver++ run over them (the images differ from
     * their own spacing's and do not depend on the chunks); DDPM and Karras refuse them.
     */
    @Test
    void timestepSpacingsAreDiffusers() {
        for (String[] c : DIFFUSERS_SPACINGS) {
            TimestepSpacing sp = TimestepSpacing.parse(c[0]);
            int T = Integer.parseInt(c[1]), S = Integer.parseInt(c[2]);
            String tag = c[0] + " T=" + T + " S=" + S;
            assertArrayEquals(ints(c[3]), sp.ddim(T, S), "DDIM " + tag);
            assertArrayEquals(ints(c[4]), sp.dpmSolver(T, S), "DPM-Solver++ " + tag);
        }
        // DDIM's own (the DDIM paper's code) is not diffusers' leading where T / S is not whole: 966 against 957.
        assertEquals(966, Sampler.ddimTimesteps(1000, 30)[0]);
        for (SamplerKind kind : new SamplerKind[] {SamplerKind.DDIM, SamplerKind.DPM_SOLVER_SDE}) {
            SampleOptions o = dpm(5, 7, kind).withSpacing(TimestepSpacing.TRAILING);
            SampleResult a = sample(CFG, 5, o, null, 5), b = sample(CFG, 2, o, null, 5);
            assertArrayEquals(TimestepSpacing.TRAILING.ddim(40, 7), a.timesteps(), kind.label());
            assertArrayEquals(a.images().data(), b.images().data(), kind.label() + ": chunks of 2, 2, 1");
            assertTrue(a.images().allFinite());
            assertFalse(java.util.Arrays.equals(a.images().data(), sample(CFG, 5, dpm(5, 7, kind), null, 5).images().data()));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dpm(1, 0, SamplerKind.DDPM).withSpacing(TimestepSpacing.LEADING));
        assertTrue(e.getMessage().contains("ddpm visits every timestep"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> dpm(1, 0, SamplerKind.DPM_SOLVER).withKarras(true).withSpacing(TimestepSpacing.LEADING));
        assertTrue(e.getMessage().contains("exclude each other"), e.getMessage());
        // A spacing whose timesteps collide is refused with the numbers: DDIM leading of 40 over 39 steps is fine
        // (1, 0, ...); linspace of 40 over 40 steps too; trailing of 10 in 10 steps (9 .. 0) as well.
        assertEquals(40, TimestepSpacing.LINSPACE.ddim(40, 40).length);
        assertArrayEquals(new int[] {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, TimestepSpacing.TRAILING.ddim(10, 10));
    }

    /**
     * The sampler's 3M steps take diffusers' orders (its scheduler printed them for the golden file): at 10
     * steps 1, 2, 3 x 6, 2, 1; at 20 steps 1, 2, 3 x 17, 1. Driving the model with those orders by hand gives
     * the same images bit for bit.
     */
    @Test
    void dpmSolver3mUsesDiffusersOrders() {
        for (int steps : new int[] {10, 20}) {
            int[] orders = new int[steps];
            for (int i = 0; i < steps; i++) orders[i] = i == 0 || i == steps - 1 ? 1 : i == 1 || (steps < 15 && i == steps - 2) ? 2 : 3;
            SampleOptions o = dpm(3, steps, SamplerKind.DPM_SOLVER_3M);
            float[] bySampler = sample(CFG, 3, o, null, 3).images().data();
            float[] byHand;
            try (Backend be = Backends.cpu(2); UNet net = be.createUNet(CFG, 3)) {
                net.init(5);
                int[] ts = Sampler.dpmSolverTimesteps(CFG.timesteps(), steps);
                net.sampleBegin(3, o.seed(), 0);
                for (int i = 0; i < steps; i++) {
                    int next = i + 1 < steps ? ts[i + 1] : -1;
                    net.sampleStepDpmSolver(ts[i], next, orders[i] >= 2 ? ts[i - 1] : -1, orders[i] == 3 ? ts[i - 2] : -1, false, 0f);
                }
                byHand = net.sampleRead(true);
            }
            assertArrayEquals(byHand, bySampler, steps + " steps");
        }
    }

    @Test
    void samplerNamesAreTheirLabels() {
        assertEquals(SamplerKind.DPM_SOLVER, SamplerKind.parse("dpm++"));
        assertEquals(SamplerKind.DPM_SOLVER_SDE, SamplerKind.parse(" DPM++SDE "));
        assertEquals(SamplerKind.DDIM, SamplerKind.parse("DDIM"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SamplerKind.parse("euler"));
        assertTrue(e.getMessage().contains("must be ddpm, ddim, dpm++, dpm++sde or dpm++3m, got 'euler'"), e.getMessage());
    }

    @Test
    void ddpmTakesEveryStepOnly() {
        SampleOptions o = new SampleOptions(2, 3, -1, 0, 2).withSampler(SamplerKind.DDPM, 10, 0, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sample(CFG, 2, o, null, 2));
        assertTrue(e.getMessage().contains("samplingSteps 10 needs sampler ddim"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new SampleOptions(2, 3, -1, 0, 2).withSampler(SamplerKind.DDPM, 0, 0.5, false));
        assertEquals(40, Sampler.timesteps(new SampleOptions(1, 0, -1, 0, 2), 40).length);
        assertEquals(40, Sampler.timesteps(ddim(1, 0, 0), 40).length, "DDIM's default 50 steps, at most T");
    }

    @Test
    void ddpmWithAClippedX0StepsThroughThePosterior() {
        SampleOptions plain = new SampleOptions(3, 3, -1, 0, 2);
        SampleOptions clipped = plain.withSampler(SamplerKind.DDPM, 0, 0, true);
        SampleResult a = sample(CFG, 3, clipped, null, 3), b = sample(CFG, 2, clipped, null, 3);
        assertArrayEquals(a.images().data(), b.images().data(), "independent of the chunks");
        assertEquals(40, a.timesteps().length);
        assertFalse(java.util.Arrays.equals(a.images().data(), sample(CFG, 3, plain, null, 3).images().data()));
    }

    @Test
    void guidedSamplingHalvesTheBatchAndLabelsEachImage() {
        SampleOptions o = ddim(5, 4, 0.0).withClass(-1, 2.5);
        // max batch 4: guided pairs of 2 images; the same images as pairs of 4 (max batch 8).
        SampleResult a = sample(COND, 4, o, null, 5), b = sample(COND, 10, o, null, 5);
        assertArrayEquals(b.images().data(), a.images().data());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sample(COND, 1, o, null, 5));
        assertTrue(e.getMessage().contains("at least 2"), e.getMessage());
        assertArrayEquals(new int[] {3, 4, 5}, Sampler.labels(COND, o, 3, 3));
        assertArrayEquals(new int[] {9, 0}, Sampler.labels(COND, o, 9, 2), "classes in turn");
        assertArrayEquals(new int[] {8, 8}, Sampler.labels(COND, o.withClass(8, 2.5), 0, 2));
        // Guidance changes the images; w = 1 is the conditional model alone (one pass, full batches).
        SampleResult one = sample(COND, 5, o.withClass(-1, 1.0), null, 5);
        assertFalse(java.util.Arrays.equals(a.images().data(), one.images().data()));
        // An unconditional model refuses a class.
        e = assertThrows(IllegalArgumentException.class, () -> sample(CFG, 4, o.withClass(3, 2.0), null, 5));
        assertTrue(e.getMessage().contains("not class-conditional"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> sample(COND, 4, o.withClass(11, 2.0), null, 5));
        assertTrue(e.getMessage().contains("class 11"), e.getMessage());
    }

    @Test
    void theSinkGetsEveryImageInOrderAndTheResultKeepsOnlyTheFirst() {
        List<Integer> firsts = new ArrayList<>();
        float[] all = new float[7 * CFG.sampleSize()];
        SampleResult kept = sample(CFG, 3, ddim(7, 4, 0.0), (first, chunk) -> {
            firsts.add(first);
            System.arraycopy(chunk.data(), 0, all, first * CFG.sampleSize(), chunk.data().length);
        }, 2);
        assertEquals(List.of(0, 3, 6), firsts);
        assertEquals(2, kept.images().count());
        assertEquals(2, kept.mid().count());
        SampleResult whole = sample(CFG, 7, ddim(7, 4, 0.0), null, 7);
        assertArrayEquals(whole.images().data(), all, "the sink sees the final, clipped images");
        assertArrayEquals(java.util.Arrays.copyOf(all, 2 * CFG.sampleSize()), kept.images().data());
    }
}
