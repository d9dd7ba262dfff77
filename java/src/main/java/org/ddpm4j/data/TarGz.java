package org.ddpm4j.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/** A minimal reader for gzip-compressed ustar archives (regular files only), enough for the CIFAR-10 archive. */
final class TarGz {
    private TarGz() {}

    /**
     * Extracts the regular files whose base name is in {@code wanted} into {@code dir}
     * (flat: folders in the archive are ignored). Returns the base names extracted.
     * Nothing outside {@code dir} is ever written.
     */
    static Set<String> extract(Path archive, Set<String> wanted, Path dir) throws IOException {
        Set<String> got = new HashSet<>();
        try (InputStream in = new BufferedInputStream(new GZIPInputStream(Files.newInputStream(archive), 1 << 16), 1 << 16)) {
            byte[] header = new byte[512];
            while (true) {
                if (!readFully(in, header)) break;
                if (allZero(header)) break;
                String name = cString(header, 0, 100);
                String prefix = cString(header, 345, 155);
                if (!prefix.isEmpty() && header[257] == 'u') name = prefix + "/" + name;
                long size = octal(header, 124, 12);
                char type = (char) header[156];
                String base = name.substring(name.lastIndexOf('/') + 1);
                boolean regular = type == '0' || type == 0;
                if (regular && wanted.contains(base)) {
                    try (OutputStream out = Files.newOutputStream(dir.resolve(base))) {
                        copy(in, out, size);
                    }
                    got.add(base);
                } else {
                    skip(in, size);
                }
                long pad = (512 - size % 512) % 512;
                skip(in, pad);
            }
        }
        return got;
    }

    private static boolean readFully(InputStream in, byte[] b) throws IOException {
        int off = 0;
        while (off < b.length) {
            int r = in.read(b, off, b.length - off);
            if (r < 0) {
                if (off == 0) return false;
                throw new EOFException("the archive ends inside a tar header");
            }
            off += r;
        }
        return true;
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    private static String cString(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) end++;
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    private static long octal(byte[] b, int off, int len) throws IOException {
        long v = 0;
        for (int i = off; i < off + len; i++) {
            byte c = b[i];
            if (c == 0 || c == ' ') {
                if (v > 0) break;
                continue;
            }
            if (c < '0' || c > '7') throw new IOException("corrupt tar header (size field)");
            v = v * 8 + (c - '0');
        }
        return v;
    }

    private static void copy(InputStream in, OutputStream out, long n) throws IOException {
        byte[] buf = new byte[1 << 16];
        while (n > 0) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, n));
            if (r < 0) throw new EOFException("the archive ends inside a file");
            out.write(buf, 0, r);
            n -= r;
        }
    }

    private static void skip(InputStream in, long n) throws IOException {
        byte[] buf = new byte[1 << 14];
        while (n > 0) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, n));
            if (r < 0) throw new EOFException("the archive ends inside a file");
            n -= r;
        }
    }
}
