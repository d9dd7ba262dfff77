package org.ddpm4j.train;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The figures a user reads while training: speed over a window of wall time, losses at any magnitude. */
class ProgressFiguresTest {
    static final long S = 1_000_000_000L;

    @Test
    void speedIsImagesOverWallTimeInTheWindowNotPerStepQueueingSpeed() {
        Throughput t = new Throughput(10 * S);
        assertTrue(Double.isNaN(t.imagesPerSecond()));
        t.start(0);
        // An asynchronous device: 9 steps return at once (queued), then the 10th waits for them all.
        for (int i = 1; i <= 9; i++) t.step(i * 1000L, 512);
        t.step(1 * S, 512);
        assertEquals(5120, t.imagesPerSecond(), 1e-6, "10 steps of 512 images in 1 s of wall time");
        assertEquals(10, t.stepsPerSecond(), 1e-9);
        // 30 s later at 2 steps/s the window holds only the last 10 s.
        long now = S;
        for (int i = 0; i < 60; i++) t.step(now += S / 2, 100);
        assertEquals(200, t.imagesPerSecond(), 1e-6);
        assertEquals(2, t.stepsPerSecond(), 1e-9);
    }

    @Test
    void aLongPauseShowsAsALowerRateThenFadesOut() {
        Throughput t = new Throughput(10 * S);
        t.start(0);
        long now = 0;
        for (int i = 0; i < 20; i++) t.step(now += S / 10, 10);  // 100 img/s
        now += 60 * S;  // a sample grid
        t.step(now, 10);
        assertTrue(t.imagesPerSecond() < 10, "the pause is wall time too: " + t.imagesPerSecond());
        for (int i = 0; i < 150; i++) t.step(now += S / 10, 10);
        assertEquals(100, t.imagesPerSecond(), 1e-6);
    }

    @Test
    void etaIsStepsLeftOverTheRecentStepRate() {
        assertEquals(50, Progress.eta(100, 2), 1e-9);
        assertEquals(0, Progress.eta(0, Double.NaN));
        assertTrue(Double.isNaN(Progress.eta(10, Double.NaN)));
    }

    @Test
    void lossesStayReadableAtAnyMagnitude() {
        assertEquals("0.07120", LossFormat.of(0.0712));
        assertEquals("1.000", LossFormat.of(1.0));
        assertEquals("8.091e+04", LossFormat.of(80914.2));
        assertEquals("6.782e+37", LossFormat.of(67817542542574760000000000000000000000.0));
        assertEquals("1.234e-05", LossFormat.of(0.00001234));
        assertEquals("NaN", LossFormat.of(Double.NaN));
        assertEquals("+Inf", LossFormat.of(Double.POSITIVE_INFINITY));
    }

    @Test
    void theDivergenceGuardStopsAtTheFirstNonFiniteLossAndWarnsOnceAboutHugeOnes() {
        StringBuilder warnings = new StringBuilder();
        DivergenceGuard g = new DivergenceGuard("10", w -> warnings.append(w).append('\n'));
        g.accept(0, new float[] {1.1f, 0.9f});
        assertEquals("", warnings.toString());
        g.accept(2, new float[] {80914f, 1e6f});
        assertEquals(1, warnings.toString().lines().count(), warnings.toString());
        assertTrue(warnings.toString().contains("the loss of step 2 is 8.091e+04") && warnings.toString().contains("(10)"));
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
                () -> g.accept(4, new float[] {3f, Float.NaN}));
        assertEquals(5, e.step());
        assertEquals("training diverged: the loss of step 5 is NaN (step 4: 3.000); try a smaller lr than 10", e.getMessage());
    }
}
