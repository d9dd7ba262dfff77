package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.ddpm4j.checkpoint.SafeTensors.Tensor;
import org.ddpm4j.testing.MemoryChannel;
import org.ddpm4j.testing.ReaderFuzzing;

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
public class SafeTensorsFuzzTest extends ReaderFuzzing {
    static final String SOURCE = "fuzz.safetensors";

    @Override
    public void check(byte[] input) throws IOException {
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
