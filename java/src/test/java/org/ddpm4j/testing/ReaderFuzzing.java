package org.ddpm4j.testing;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfEnvironmentVariable;

/**
 * A fuzz test of one file reader: {@link #check} states the property for one input
 * (refused cleanly, or accepted and written back identically), and this class runs it
 * three ways: on the committed seeds ({@code <Class>Inputs/} next to the subclass) in
 * every {@code mvn test}, as Jazzer's in-process fuzz target under {@code JAZZER_FUZZ=1},
 * and in a child JVM for {@link FuzzPass#RUNS} executions ({@link #fuzzingPass}).
 * Subclasses are public with a public no-argument constructor (the child JVM creates one).
 */
public abstract class ReaderFuzzing {
    /** Throws (an assertion or the reader's unexpected exception) when the reader misbehaves on {@code input}. */
    public abstract void check(byte[] input) throws Exception;

    @FuzzTest(maxDuration = "30s")
    void refusedCleanlyOrRoundTrips(byte[] input) throws Exception {
        check(input);
    }

    /** Real fuzzing from the seeds, in a child JVM: in-process, Jazzer fuzzes one target per JVM. */
    @Test
    @DisabledIfEnvironmentVariable(named = "JAZZER_FUZZ", matches = ".+", disabledReason = "fuzzing in this JVM instead")
    void fuzzingPass() throws Exception {
        FuzzPass.run(getClass());
    }
}
