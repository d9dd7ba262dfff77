package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.ddpm4j.checkpoint.SafeTensors.Tensor;
import org.ddpm4j.testing.Jazzer;
import org.ddpm4j.testing.MemoryChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfEnvironmentVariable;

/**
 * Coverage-guided fuzzing of the safetensors reader (Jazzer). Every input is either
 * refused with a one-line {@link SafeTensorsException} naming the file, or accepted;
 * an accepted file, written back by {@link SafeTensors#write} and read again, gives the
 * same tensors (names in order, dtypes, shapes, bytes) and metadata. Any other
 * exception, an Error or a hang is a finding.
 *
 * <p>{@code mvn test} runs the seeds in {@code SafeTensorsFuzzTestInputs/} (a valid
 * file, an empty one and the mutants of issue 11); {@code JAZZER_FUZZ=1} fuzzes (see
 * the README's Fuzzing paragraph).
 */
public class SafeTensorsFuzzTest {
    static final String SOURCE = "fuzz.safetensors";

    @FuzzTest(maxDuration = "30s")
    void refusedCleanlyOrRoundTrips(byte[] input) throws IOException {
        fuzzerTestOneInput(input);
    }

    /** A few seconds of real fuzzing from the seeds on every test run (in its own JVM: Jazzer fuzzes one target per JVM). */
    @Test
    @DisabledIfEnvironmentVariable(named = "JAZZER_FUZZ", matches = ".+", disabledReason = "fuzzing this JVM instead")
    void shortFuzzingPass() throws Exception {
        Jazzer.shortPass(SafeTensorsFuzzTest.class);
    }

    /** The property; also the target of {@link Jazzer#shortPass}. */
    public static void fuzzerTestOneInput(byte[] input) throws IOException {
        SafeTensors.Contents c;
        try {
            c = SafeTensors.parse(SOURCE, input);
        } catch (SafeTensorsException e) {
            assertTrue(e.getMessage().startsWith(SOURCE + " is not a valid safetensors file: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            return;
        }
        List<Tensor> tensors = new ArrayList<>(c.tensors().values());
        byte[] again = MemoryChannel.written(ch -> SafeTensors.write(ch, tensors, c.metadata()));
        assertSameContents(c, SafeTensors.parse("rewritten", again));
    }

    static void assertSameContents(SafeTensors.Contents want, SafeTensors.Contents got) {
        assertEquals(List.copyOf(want.tensors().keySet()), List.copyOf(got.tensors().keySet()), "tensor names, in order");
        for (Map.Entry<String, Tensor> e : want.tensors().entrySet()) {
            Tensor a = e.getValue(), b = got.tensors().get(e.getKey());
            assertEquals(a.dtype(), b.dtype(), e.getKey());
            assertArrayEquals(a.shape(), b.shape(), e.getKey());
            assertArrayEquals(a.data(), b.data(), e.getKey());
        }
        assertEquals(want.metadata(), got.metadata(), "metadata");
    }
}
