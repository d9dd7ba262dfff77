package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import org.ddpm4j.testing.MemoryChannel;
import org.ddpm4j.testing.ReaderFuzzing;

/**
 * Coverage-guided fuzzing of the checkpoint reader (Jazzer). Every input is either
 * refused with a one-line {@link CheckpointException} naming the file, or accepted; an
 * accepted checkpoint, written back by {@link CheckpointFile#write} and read again, is
 * the same checkpoint (configuration, progress, and every float bit for bit). Any other
 * exception, an Error or a hang is a finding.
 *
 * <p>Each input is also read with its section CRCs repaired, so that mutations reach the
 * JSON sections and the section sizes instead of stopping at a CRC. Seeds:
 * {@code CheckpointFileFuzzTestInputs/} (a tiny valid checkpoint and mutants of it).
 */
public class CheckpointFileFuzzTest extends ReaderFuzzing {
    static final String SOURCE = "fuzz.ckpt";

    @Override
    public void check(byte[] input) throws IOException {
        readAndRewrite(input);
        readAndRewrite(CheckpointBytes.fixCrcs(input));
    }

    private static void readAndRewrite(byte[] input) throws IOException {
        Checkpoint c;
        try {
            c = CheckpointFile.read(SOURCE, new MemoryChannel(input));
        } catch (CheckpointException e) {
            assertTrue(e.getMessage().contains(SOURCE), "names the file: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            return;
        }
        byte[] again = MemoryChannel.written(ch -> CheckpointFile.write(ch, c));
        assertSameCheckpoint(c, CheckpointFile.read("rewritten", new MemoryChannel(again)));
    }

    static void assertSameCheckpoint(Checkpoint want, Checkpoint got) {
        assertEquals(want.meta(), got.meta());
        assertEquals(want.progress(), got.progress());
        assertEquals(want.model().timeTableKind(), got.model().timeTableKind());
        assertEquals(want.model().bnBatches(), got.model().bnBatches());
        assertEquals(want.optimizer().adamStep(), got.optimizer().adamStep());
        assertSameBits(want.model().params(), got.model().params(), "params");
        assertSameBits(want.model().buffers(), got.model().buffers(), "buffers");
        assertSameBits(want.model().timeTable(), got.model().timeTable(), "time table");
        assertSameBits(want.optimizer().moments(), got.optimizer().moments(), "adam");
    }

    private static void assertSameBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + "[" + i + "]");
        }
    }
}
