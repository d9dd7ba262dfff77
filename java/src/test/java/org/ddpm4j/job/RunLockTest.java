package org.ddpm4j.job;

import static org.junit.jupiter.api.Assertions.*;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.testing.TestData;
import org.ddpm4j.train.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One training run at a time in a run folder, in this process and across processes. */
class RunLockTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    static TrainJob.Request request(Path dir) {
        return new TrainJob.Request(TestData.tiny(20), TrainJobTest.settings(8, 1e-3, 1, 4, 1), TrainJobTest.ships(16),
                CifarLocator.defaults(), dir, null, false, Progress.Mode.NONE, null, null);
    }

    @Test
    void aSecondRunInTheFolderIsRefusedAndTouchesNothing(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        Files.createDirectories(dir);
        Path stale = Files.writeString(dir.resolve("model.ckpt.tmp"), "the first run's checkpoint, being written");
        try (RunLock held = RunLock.acquire(dir); Backend be = Backends.cpu(1)) {
            InvalidSettingException e = assertThrows(InvalidSettingException.class, () -> TrainJob.run(be, request(dir), QUIET));
            assertEquals(Setting.OUT, e.setting());
            assertTrue(e.getMessage().contains("is in use by another training run (process " + ProcessHandle.current().pid() + ")"),
                    e.getMessage());
            assertTrue(e.settingText().render(Setting::flag).endsWith("or choose another --out"), e.getMessage());
            assertTrue(Files.exists(stale), "the holder's file in the writing is left alone");
            assertFalse(Files.exists(dir.resolve("model.ckpt")));
        }
        try (Backend be = Backends.cpu(1)) {  // released: the folder trains, and its stale temporary goes
            TrainJob.run(be, request(dir), QUIET);
        }
        assertTrue(Files.exists(dir.resolve("model.ckpt")));
        assertFalse(Files.exists(stale));
    }

    @Test
    void aFailedRunLeavesNoFolderBehindLockFileIncluded(@TempDir Path tmp) {
        Path dir = tmp.resolve("new").resolve("run");
        TrainJob.Request bad = new TrainJob.Request(TestData.tiny(20), TrainJobTest.settings(8, 1e-3, 1, 4, 1),
                org.ddpm4j.data.DataSpec.cifar(tmp.resolve("no-cifar").toString(), org.ddpm4j.data.Split.TRAIN),
                CifarLocator.defaults(), dir, null, false, Progress.Mode.NONE, null, null);
        try (Backend be = Backends.cpu(1)) {
            assertThrows(RuntimeException.class, () -> TrainJob.run(be, bad, QUIET));
        }
        assertFalse(Files.exists(tmp.resolve("new")), "the folders the run created are gone");
    }

    /** The lock is the operating system's: another process holding it keeps this one out, and its death frees it. */
    @Test
    void aRunInAnotherProcessKeepsThisOneOut(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("run"));
        Process holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), RunLockHolder.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine(), "the holder process took the lock");
            InvalidSettingException e = assertThrows(InvalidSettingException.class, () -> RunLock.acquire(dir).close());
            assertTrue(e.getMessage().contains("(process " + holder.pid() + ")"), e.getMessage());
        } finally {
            holder.destroyForcibly();
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        RunLock.acquire(dir).close();  // the dead process's lock is gone
    }

    /** Holds a folder's run lock until killed (for the cross-process test). */
    public static final class RunLockHolder {
        public static void main(String[] args) throws Exception {
            RunLock lock = RunLock.acquire(Path.of(args[0]));
            System.out.println("locked");
            System.out.flush();
            Thread.sleep(60_000);
            lock.close();
        }
    }
}
