package org.ddpm4j.checkpoint;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32;

/** Takes checkpoint files apart and puts them back together with matching CRCs, to build mutants that reach the parser. */
final class CheckpointBytes {
    private static final int HEAD = 12;  // magic and version

    private CheckpointBytes() {}

    record Section(String name, byte[] payload) {}

    /** The sections of a well-formed file. */
    static List<Section> sections(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).position(HEAD);
        List<Section> out = new ArrayList<>();
        while (b.hasRemaining()) {
            byte[] name = new byte[b.getShort() & 0xffff];
            b.get(name);
            byte[] payload = new byte[(int) b.getLong()];
            b.get(payload);
            b.getInt();
            out.add(new Section(new String(name, StandardCharsets.US_ASCII), payload));
        }
        return out;
    }

    /** The file's magic and version followed by {@code sections}, each with its CRC32. */
    static byte[] assemble(byte[] file, List<Section> sections) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(file, 0, HEAD);
        for (Section s : sections) {
            byte[] name = s.name().getBytes(StandardCharsets.US_ASCII);
            ByteBuffer h = ByteBuffer.allocate(2 + name.length + 8).order(ByteOrder.LITTLE_ENDIAN);
            h.putShort((short) name.length).put(name).putLong(s.payload().length);
            out.write(h.array(), 0, h.capacity());
            out.write(s.payload(), 0, s.payload().length);
            CRC32 crc = new CRC32();
            crc.update(name);
            crc.update(s.payload());
            out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue()).array(), 0, 4);
        }
        return out.toByteArray();
    }

    /** The file with section {@code name}'s payload replaced. */
    static byte[] withSection(byte[] file, String name, byte[] payload) {
        List<Section> s = new ArrayList<>(sections(file));
        boolean found = false;
        for (int i = 0; i < s.size(); i++) {
            if (s.get(i).name().equals(name)) {
                s.set(i, new Section(name, payload));
                found = true;
            }
        }
        if (!found) throw new AssertionError("no section " + name);
        return assemble(file, s);
    }

    static byte[] withSection(byte[] file, String name, String json) {
        return withSection(file, name, json.getBytes(StandardCharsets.UTF_8));
    }

    static String section(byte[] file, String name) {
        for (Section s : sections(file)) if (s.name().equals(name)) return new String(s.payload(), StandardCharsets.UTF_8);
        throw new AssertionError("no section " + name);
    }

    /**
     * A copy of arbitrary bytes in which every section that fits has the CRC32 its name
     * and payload call for (best effort: it stops where the layout does not fit), so that
     * a fuzzer's mutations get past the CRCs to the JSON and the section sizes.
     */
    static byte[] fixCrcs(byte[] input) {
        byte[] b = Arrays.copyOf(input, input.length);
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int at = HEAD;
        while (at + 2 <= b.length) {
            int nameLen = buf.getShort(at) & 0xffff;
            int payloadAt = at + 2 + nameLen + 8;
            if (payloadAt > b.length) break;
            long len = buf.getLong(at + 2 + nameLen);
            if (len < 0 || len > b.length - payloadAt - 4L) break;
            CRC32 crc = new CRC32();
            crc.update(b, at + 2, nameLen);
            crc.update(b, payloadAt, (int) len);
            buf.putInt(payloadAt + (int) len, (int) crc.getValue());
            at = payloadAt + (int) len + 4;
        }
        return b;
    }
}
