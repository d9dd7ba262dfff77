package org.ddpm4j.job;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.ddpm4j.setting.InvalidSettingException;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * One training run at a time in a run folder. Two runs in one folder would overwrite each
 * other's checkpoints and loss log, and a starting run removes stale temporary files, which
 * would be the other run's checkpoint in the middle of being written. The lock is an OS file
 * lock on {@value #FILE} in the folder (released by the OS if the process dies), holding the
 * owner's process id for the message. The file stays (an unlocked one means nothing): removing it
 * on exit would let a run that opened it just before lock a file no one else can find.
 * {@link OutputFolder#removeIfUnused} removes it with a folder that holds nothing else.
 */
final class RunLock implements AutoCloseable {
    static final String FILE = ".ddpm-run.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** Takes the folder's lock, or refuses naming the process that holds it. */
    static RunLock acquire(Path dir) {
        Path file = dir.resolve(FILE);
        try {
            FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {  // held by this JVM
                lock = null;
            }
            if (lock == null) {
                String holder = holder(ch);
                ch.close();
                throw new InvalidSettingException(Setting.OUT, SettingText.of(dir + " is in use by another training run ("
                        + holder + "); wait for it to end, or choose another ", Setting.OUT));
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap(("process " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
            return new RunLock(ch, lock);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lock the run folder " + dir + ": " + e.getMessage(), e);
        }
    }

    private static String holder(FileChannel ch) {
        try {
            ByteBuffer b = ByteBuffer.allocate(64);
            int n = ch.read(b, 0);
            String s = n > 0 ? new String(b.array(), 0, n, StandardCharsets.UTF_8).strip() : "";
            return s.isEmpty() ? "a process that has just started it" : s;
        } catch (IOException e) {
            return "a process that holds its lock";
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unlock the run folder: " + e.getMessage(), e);
        }
    }
}
