package org.ddpm4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.ddpm4j.testing.ReaderFuzzing;
import org.ddpm4j.testing.TestData;

/**
 * Coverage-guided fuzzing of the CIFAR-10 reader (Jazzer). An input is a
 * {@code batches.meta.txt}, a NUL byte, then a batch file. Each part is either refused
 * with a one-line {@link DataException} naming its file, or accepted; accepted class
 * names read the same when written one per line, and an accepted batch written back as
 * records (label byte, then the R, G, B planes) is the input byte for byte. Any other
 * exception, an Error or a hang is a finding. Seeds: {@code Cifar10ReaderFuzzTestInputs/}.
 */
public class Cifar10ReaderFuzzTest extends ReaderFuzzing {
    static final String META = "batches.meta.txt";
    static final String BATCH = "data_batch_1.bin";
    @Override
    public void check(byte[] input) {
        int nul = 0;
        while (nul < input.length && input[nul] != 0) nul++;
        checkNames(Arrays.copyOf(input, nul));
        checkBatch(nul < input.length ? Arrays.copyOfRange(input, nul + 1, input.length) : new byte[0]);
    }

    private static void checkNames(byte[] meta) {
        List<String> names;
        try {
            names = Cifar10Reader.parseClassNames(META, meta);
        } catch (DataException e) {
            assertRefusal(e, META);
            return;
        }
        byte[] again = String.join("\n", names).getBytes(StandardCharsets.UTF_8);
        assertEquals(names, Cifar10Reader.parseClassNames("rewritten", again));
    }

    private static void checkBatch(byte[] batch) {
        ImageSet s;
        try {
            s = Cifar10Reader.decode(TestData.CIFAR_CLASSES, List.of(BATCH), List.of(batch));
        } catch (DataException e) {
            assertRefusal(e, BATCH);
            return;
        }
        assertArrayEquals(batch, records(s), "the records written back");
    }

    /** The images as CIFAR-10 records. */
    static byte[] records(ImageSet s) {
        byte[] out = new byte[s.size() * Cifar10Reader.RECORD_BYTES];
        for (int i = 0; i < s.size(); i++) {
            out[i * Cifar10Reader.RECORD_BYTES] = (byte) s.label(i);
            s.copyImage(i, out, i * Cifar10Reader.RECORD_BYTES + 1);
        }
        return out;
    }

    private static void assertRefusal(DataException e, String file) {
        assertTrue(e.getMessage().startsWith("CIFAR-10 file " + file), "names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
