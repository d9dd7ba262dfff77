package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import org.ddpm4j.api.DeviceUnavailableException;
import org.ddpm4j.api.DivergedException;
import org.ddpm4j.api.InternalException;
import org.ddpm4j.api.InvalidInputException;
import org.junit.jupiter.api.Test;

/** Exit code 2 for what the user can fix (the API's typed errors), 1 for bugs: internal errors and anything untyped. */
class MainExitCodeTest {
    @Test
    void onlyTheUsersErrorsAreExpected() {
        assertTrue(Main.isExpected(new InvalidInputException("--batch must be >= 1, got 0")));
        assertTrue(Main.isExpected(new DeviceUnavailableException("CUDA is not available: no GPU")));
        assertTrue(Main.isExpected(new DivergedException(3, "training diverged", null)));
        assertFalse(Main.isExpected(new InternalException("RuntimeException: native failure", new RuntimeException())));
        assertFalse(Main.isExpected(new RuntimeException("a native error that escaped the API")));
        assertFalse(Main.isExpected(new IllegalArgumentException("a bug in the command line itself")));
        assertEquals("NullPointerException", Main.describe(new NullPointerException()));
        assertEquals("--lr must be a positive number", Main.describe(new InvalidInputException("--lr must be a positive number\nmore")));
    }
}
