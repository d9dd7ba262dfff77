package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CancellationException;
import org.ddpm4j.backend.BackendUnavailableException;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.checkpoint.SafeTensorsException;
import org.ddpm4j.data.DataException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.TrainingDivergedException;
import org.junit.jupiter.api.Test;

/** The one translator from the internal exceptions to the API's typed ones: kind, one-line message, cause kept. */
class ErrorsTest {
    static <T extends DdpmException> T translated(Class<T> kind, Throwable internal) {
        DdpmException d = Errors.translate(internal);
        assertInstanceOf(kind, d, internal + " -> " + d);
        assertSame(internal, d.getCause(), "the cause is kept");
        return kind.cast(d);
    }

    @Test
    void badInputDeviceDivergenceAndBugsAreToldApart() {
        assertEquals("image x.png is not a readable PNG", translated(InvalidInputException.class,
                new DataException("image x.png is not a readable PNG")).getMessage());
        translated(InvalidInputException.class, new CheckpointException("checkpoint a.ckpt is truncated"));
        translated(InvalidInputException.class, new SafeTensorsException("a.safetensors: bad header"));
        translated(InvalidInputException.class, new IllegalArgumentException("a plain refusal"));
        InvalidInputException named = translated(InvalidInputException.class, Setting.BATCH.invalid("must be >= 1, got 0"));
        assertEquals("batch must be >= 1, got 0", named.getMessage());
        assertEquals("--batch must be >= 1, got 0", named.message(Setting::flag));
        assertEquals("out/x.png does not exist", translated(InvalidInputException.class,
                new UncheckedIOException(null, new NoSuchFileException("out/x.png"))).getMessage());
        assertEquals("cannot write a: disk full", translated(InvalidInputException.class,
                new UncheckedIOException("cannot write a: disk full", new IOException("disk full"))).getMessage());
        assertTrue(translated(InvalidInputException.class, new OutOfMemoryError("Java heap space")).getMessage()
                .startsWith("out of memory (Java heap space); try a smaller batch"));

        assertEquals("CUDA is not available: no GPU", translated(DeviceUnavailableException.class,
                new BackendUnavailableException("CUDA is not available: no GPU")).getMessage());
        assertTrue(translated(DeviceUnavailableException.class, new UnsatisfiedLinkError("no jniDdpmCpu"))
                .getMessage().contains("the native library of ddpm4j does not load on this machine (no jniDdpmCpu)"));
        // The native code's errors arrive as plain RuntimeExceptions: memory is the device's, the rest are bugs.
        translated(DeviceUnavailableException.class, new RuntimeException("cpu alloc: out of memory allocating 9 bytes"));

        DivergedException d = translated(DivergedException.class, new TrainingDivergedException(41, "training diverged: step 41"));
        assertEquals(41, d.step());
        d = translated(DivergedException.class, new TrainingDivergedException(7, SettingText.of("training diverged; try a smaller ",
                Setting.LR)));
        assertEquals("training diverged; try a smaller --lr", d.message(Setting::flag));

        assertEquals("RuntimeException: UNet::forward: batch 5 is outside [1, max_batch = 4]", translated(InternalException.class,
                new RuntimeException("UNet::forward: batch 5 is outside [1, max_batch = 4]\n  at native code")).getMessage());
        assertEquals("IllegalStateException: batch loader out of step", translated(InternalException.class,
                new IllegalStateException("batch loader out of step")).getMessage());
        assertEquals("NullPointerException", translated(InternalException.class, new NullPointerException()).getMessage());
    }

    @Test
    void theFacadesOwnAndCancellationPassUnchanged() {
        InvalidInputException own = new InvalidInputException("--count must be >= 1, got 0");
        assertSame(own, Errors.translate(own));
        CancellationException stop = new CancellationException("sampling stopped at t = 3");
        assertSame(stop, assertThrows(CancellationException.class, () -> Errors.run(() -> {
            throw stop;
        })));
        assertThrows(InternalException.class, () -> Errors.run(() -> {
            throw new ArithmeticException("/ by zero");
        }));
    }
}
