package org.ddpm4j.optim;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.optim.LrSchedule.Kind;
import org.ddpm4j.setting.InvalidSettingException;
import org.junit.jupiter.api.Test;

/**
 * The schedules' factors are transformers' get_constant_schedule_with_warmup,
 * get_cosine_schedule_with_warmup (num_cycles 0.5) and get_linear_schedule_with_warmup,
 * evaluated at the number of optimizer steps before the update (values worked by hand).
 */
class LrScheduleTest {
    static final double EPS = 1e-15;

    @Test
    void warmupRisesLinearlyFromZero() {
        LrSchedule s = new LrSchedule(Kind.CONSTANT, 10, 0);
        assertEquals(0.0, s.factor(0), "the first update of a warm-up has rate 0, as LambdaLR's");
        assertEquals(0.5, s.factor(5), EPS);
        assertEquals(0.9, s.factor(9), EPS);
        assertEquals(1.0, s.factor(10));
        assertEquals(1.0, s.factor(1_000_000));
        assertFalse(s.isConstant());
        assertTrue(LrSchedule.CONSTANT.isConstant());
        assertEquals(1.0, LrSchedule.CONSTANT.factor(0));
    }

    @Test
    void cosineDecaysToZeroAtItsEndAndStaysThere() {
        LrSchedule s = new LrSchedule(Kind.COSINE, 10, 110);
        assertEquals(0.3, s.factor(3), EPS);
        assertEquals(1.0, s.factor(10), EPS);
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.25)), s.factor(35), EPS);
        assertEquals(0.5, s.factor(60), EPS);
        assertEquals(0.0, s.factor(110), EPS);
        assertEquals(0.0, s.factor(150), EPS, "held at 0 past the end (transformers' cosine would rise again)");
        assertEquals(0.5, new LrSchedule(Kind.COSINE, 0, 100).factor(50), EPS);
        assertEquals(1.0, new LrSchedule(Kind.COSINE, 0, 100).factor(0), EPS);
    }

    @Test
    void linearDecaysToZeroAtItsEnd() {
        LrSchedule s = new LrSchedule(Kind.LINEAR, 10, 110);
        assertEquals(1.0, s.factor(10), EPS);
        assertEquals(0.5, s.factor(60), EPS);
        assertEquals(0.01, s.factor(109), EPS);
        assertEquals(0.0, s.factor(110));
        assertEquals(0.0, s.factor(500));
    }

    @Test
    void theDecaysEndIsTheRunsLastStepUnlessGiven() {
        assertEquals(1564, new LrSchedule(Kind.COSINE, 0, 0).resolved(1564).decaySteps());
        assertEquals(900, new LrSchedule(Kind.COSINE, 0, 900).resolved(1564).decaySteps(), "given: kept");
        assertEquals(0, LrSchedule.CONSTANT.resolved(1564).decaySteps());
        assertEquals(101, new LrSchedule(Kind.LINEAR, 100, 0).resolved(50).decaySteps(), "always beyond the warm-up");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new LrSchedule(Kind.COSINE, 0, 0).factor(5));
        assertTrue(e.getMessage().contains("not set"), e.getMessage());
        assertEquals("cosine to 0 at step 1564 after 500 warm-up steps", new LrSchedule(Kind.COSINE, 500, 1564).describe());
        assertEquals("constant after 20 warm-up steps", new LrSchedule(Kind.CONSTANT, 20, 0).describe());
    }

    @Test
    void badValuesNameTheirSetting() {
        InvalidSettingException e = assertThrows(InvalidSettingException.class, () -> Kind.parse("step"));
        assertEquals("lrSchedule must be constant, cosine or linear, got 'step'", e.getMessage());
        e = assertThrows(InvalidSettingException.class, () -> new LrSchedule(Kind.COSINE, -1, 0));
        assertEquals("lrWarmup must be >= 0, got -1", e.getMessage());
        e = assertThrows(InvalidSettingException.class, () -> new LrSchedule(Kind.COSINE, 100, 50));
        assertEquals("lrDecaySteps must be beyond the warm-up's 100 steps, got 50", e.getMessage());
        assertEquals(Kind.COSINE, Kind.parse(" Cosine "));
        e = assertThrows(InvalidSettingException.class, () -> new LrSchedule(Kind.CONSTANT, 0, 100));
        assertEquals("lrDecaySteps is for lrSchedule cosine or linear (a constant rate does not decay)", e.getMessage());
    }
}
