package org.ddpm4j.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;

/** A read-only SeekableByteChannel over bytes in memory, so readers can be fuzzed without files. */
public final class MemoryChannel implements SeekableByteChannel {
    private final byte[] bytes;
    private long position;
    private boolean open = true;

    public MemoryChannel(byte[] bytes) {
        this.bytes = bytes;
    }

    /** What {@code body} writes to a channel. */
    public static byte[] written(Body body) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (WritableByteChannel ch = Channels.newChannel(out)) {
            body.write(ch);
        }
        return out.toByteArray();
    }

    /** Writes to a channel. */
    @FunctionalInterface
    public interface Body {
        void write(WritableByteChannel ch) throws IOException;
    }

    @Override
    public int read(ByteBuffer dst) {
        if (position >= bytes.length) return -1;
        int n = (int) Math.min(dst.remaining(), bytes.length - position);
        dst.put(bytes, (int) position, n);
        position += n;
        return n;
    }

    @Override
    public int write(ByteBuffer src) {
        throw new NonWritableChannelException();
    }

    @Override
    public long position() {
        return position;
    }

    @Override
    public SeekableByteChannel position(long p) {
        if (p < 0) throw new IllegalArgumentException("negative position " + p);
        position = p;
        return this;
    }

    @Override
    public long size() {
        return bytes.length;
    }

    @Override
    public SeekableByteChannel truncate(long size) {
        throw new NonWritableChannelException();
    }

    @Override
    public boolean isOpen() {
        return open;
    }

    @Override
    public void close() {
        open = false;
    }
}
