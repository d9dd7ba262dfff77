package org.ddpm4j.sample;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SamplerTest {
    static final UNetConfig CFG = TestData.tiny(30);
    static float[] params;

    /** Weights with some structure: init plus a few training steps on synthetic images. */
    @BeforeAll
    static void weights() {
        try (Backend be = Backends.cpu(2); UNet net = be.createUNet(CFG, 8)) {
            net.init(5);
            byte[] px = new byte[8 * 3072];
            var data = TestData.syntheticImages(8, 5);
            for (int i = 0; i < 8; i++) data.copyImage(i, px, i * 3072);
            for (int s = 0; s < 5; s++) net.trainStep(px, null, 8, org.ddpm4j.optim.AdamConfig.withLr(1e-3), 5, s);
            params = net.params(null);
        }
    }

    static SampleResult sample(int maxBatch, SampleOptions o) {
        try (Backend be = Backends.cpu(2); UNet net = be.createUNet(CFG, maxBatch)) {
            net.init(5);
            net.setParams(params);
            return Sampler.run(net, o, null);
        }
    }

    /** RePaint's schedule as diffusers' RePaintScheduler.set_timesteps (its loop transcribed and run in Python). */
    @Test
    void repaintScheduleIsDiffusers() {
        assertArrayEquals(new int[] {18, 16, 14, 12, 14, 16, 14, 12, 10, 8, 10, 12, 10, 8, 6, 4, 6, 8, 6, 4, 2, 0, 2, 4, 2, 0},
                Sampler.repaintTimesteps(20, 10, 2, 2));
        assertArrayEquals(new int[] {35, 30, 25, 20, 15, 10, 5, 0}, Sampler.repaintTimesteps(40, 8, 3, 1));  // no jumps
        int[] d = Sampler.repaintTimesteps(1000, 250, 10, 10);  // diffusers' RePaintPipeline defaults
        assertEquals(4570, d.length);
        assertEquals(996, d[0]);
        assertEquals(924, d[20]);  // the first jump back, from 920
        assertEquals(0, d[d.length - 1]);
        // The model steps of an inpainting run: the entries below the one before them.
        Inpainting in = new Inpainting(new float[3072], new float[3072], 10, 10);
        SampleOptions o = new SampleOptions(1, 0, -1, 0, 2).withInpainting(in, 0, 0.0);
        assertEquals(2410, Sampler.timesteps(o, 1000).length);
    }

    /**
     * Inpainting: the kept pixels come out exactly as the known image, the painted ones do not; keep 0
     * everywhere without jumps is DDIM with x_0 clipped; the images do not depend on the chunking.
     */
    @Test
    void inpaintingKeepsTheKnownPixelsAndPaintsTheRest() {
        int per = CFG.sampleSize(), hw = CFG.height() * CFG.width();
        float[] known = new float[per], keep = new float[per], none = new float[per];
        for (int i = 0; i < per; i++) {
            known[i] = ((i * 37) % 255) / 127.5f - 1f;
            keep[i] = (i % hw) % CFG.width() < CFG.width() / 2 ? 1f : 0f;  // the left half kept
        }
        SampleOptions base = new SampleOptions(5, 11, -1, 0, 2);
        SampleOptions o = base.withInpainting(new Inpainting(known, keep, 2, 3), 6, 0.0);
        float[] x = sample(8, o).images().data();
        int painted = 0, kept = 0;
        for (int k = 0; k < 5; k++) {
            for (int i = 0; i < per; i++) {
                if (keep[i] == 1f) {
                    assertEquals(known[i], x[k * per + i], 0f, "image " + k + " value " + i);
                    kept++;
                } else if (x[k * per + i] != known[i]) {
                    painted++;
                }
            }
        }
        assertEquals(kept, 5 * per / 2);
        assertTrue(painted > 0.99 * kept, painted + " painted values differ from the known image");
        assertArrayEquals(x, sample(2, o).images().data(), "chunks of 2");
        // Nothing kept, no jumps, eta 0: DDIM with x_0 clipped, at RePaint's timesteps (30 // 6 = 5 apart: 25, 20, ..., 0).
        float[] ddim = sample(8, base.withSampler(SamplerKind.DDIM, 6, 0.0, true)).images().data();
        float[] repaintNone = sample(8, base.withInpainting(new Inpainting(known, none, 2, 1), 6, 0.0)).images().data();
        assertArrayEquals(ddim, repaintNone);
    }

    /**
     * Image-to-image: the last floor(S x strength) timesteps are run (diffusers' img2img); a low strength leaves
     * the picture nearly as it was, strength 1 from the top of the schedule does not; chunking changes nothing.
     */
    @Test
    void imageToImageRunsTheScheduleTailFromThePicture() {
        int per = CFG.sampleSize();
        float[] pic = new float[per];
        for (int i = 0; i < per; i++) pic[i] = ((i * 53) % 255) / 127.5f - 1f;
        SampleOptions ddim = new SampleOptions(4, 3, -1, 0, 2).withSampler(SamplerKind.DDIM, 10, 0.0, true);
        int T = CFG.timesteps();
        assertArrayEquals(new int[] {6, 3, 0}, Sampler.timesteps(ddim.withInit(new ImageToImage(pic, 0.3)), T));  // 27, 24, ... 0
        assertArrayEquals(Sampler.timesteps(ddim, T), Sampler.timesteps(ddim.withInit(new ImageToImage(pic, 1.0)), T));
        assertEquals(12, Sampler.timesteps(new SampleOptions(1, 0, -1, 0, 2).withInit(new ImageToImage(pic, 0.4)), T).length);
        var e = assertThrows(org.ddpm4j.setting.InvalidSettingException.class,
                () -> Sampler.timesteps(ddim.withInit(new ImageToImage(pic, 0.05)), T));
        assertTrue(e.getMessage().contains("runs none of the sampler's 10 steps"), e.getMessage());
        float[] near = sample(8, ddim.withInit(new ImageToImage(pic, 0.1))).images().data();  // one step, from t = 0
        float[] far = sample(8, ddim.withInit(new ImageToImage(pic, 1.0))).images().data();
        double dNear = 0, dFar = 0;
        for (int i = 0; i < near.length; i++) {
            dNear = Math.max(dNear, Math.abs(near[i] - pic[i % per]));
            dFar += Math.abs(far[i] - pic[i % per]) / near.length;
        }
        assertTrue(dNear < 0.1, "strength 0.1: max |x - picture| " + dNear);
        assertTrue(dFar > 0.2, "strength 1: mean |x - picture| " + dFar);
        SampleOptions mid = new SampleOptions(5, 3, -1, 0, 2).withSampler(SamplerKind.DPM_SOLVER_SDE, 8, 0.0, false)
                .withInit(new ImageToImage(pic, 0.5));
        assertArrayEquals(sample(8, mid).images().data(), sample(2, mid).images().data(), "chunks of 2");
    }

    @Test
    void samplesAreFiniteClippedAndReproducible() {
        SampleOptions o = new SampleOptions(6, 77, 15, 3, 5);
        SampleResult a = sample(6, o), b = sample(6, o);
        assertEquals(6, a.images().count());
        assertTrue(a.images().allFinite());
        for (float v : a.images().data()) assertTrue(v >= -1f && v <= 1f, "clipped to [-1, 1]: " + v);
        assertArrayEquals(a.images().data(), b.images().data(), "the same seed gives the same images");
        assertArrayEquals(a.mid().data(), b.mid().data());
        SampleResult c = sample(6, new SampleOptions(6, 78, 15, 3, 5));
        assertFalse(java.util.Arrays.equals(a.images().data(), c.images().data()), "another seed, other images");
    }

    @Test
    void chunkingDoesNotChangeTheImages() {
        SampleOptions o = new SampleOptions(7, 3, -1, 0, 2);
        SampleResult whole = sample(7, o), chunks = sample(3, o);  // chunks of 3, 3 and 1
        float[] a = whole.images().data(), b = chunks.images().data();
        for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-4f, "element " + i);
        assertNull(whole.mid());
        assertNull(whole.strip());
    }

    @Test
    void stripRunsFromNoiseToTheFinalImage() {
        SampleOptions o = new SampleOptions(4, 9, 15, 2, 5);
        SampleResult r = sample(4, o);
        assertArrayEquals(new int[] {30, 29, 19, 10, 0}, r.stripTimes());
        Images strip = r.strip();
        assertEquals(2 * 5, strip.count());
        int per = strip.imageSize();
        // Frame 0 is x_T ~ N(0, 1): unclipped, spread around 0.
        double sq = 0;
        float max = 0;
        for (int i = 0; i < per; i++) {
            sq += strip.data()[i] * strip.data()[i];
            max = Math.max(max, Math.abs(strip.data()[i]));
        }
        assertEquals(1.0, Math.sqrt(sq / per), 0.1, "x_T has unit variance");
        assertTrue(max > 2f, "x_T is not clipped");
        // The last frame of image i is the final image i.
        for (int img = 0; img < 2; img++) {
            for (int k = 0; k < per; k++) {
                assertEquals(r.images().data()[img * per + k], strip.data()[(img * 5 + 4) * per + k], "image " + img);
            }
        }
        assertEquals(4, r.mid().count());
    }

    @Test
    void stripFramesNeverExceedTheDistinctTimes() {
        assertArrayEquals(new int[] {3, 2, 1, 0}, Sampler.stripTimes(3, 4));
        int[] ts = Sampler.stripTimes(1000, 11);
        assertEquals(1000, ts[0]);
        assertEquals(999, ts[1]);
        assertEquals(0, ts[10]);
        for (int i = 1; i < ts.length; i++) assertTrue(ts[i] < ts[i - 1]);
    }
}
