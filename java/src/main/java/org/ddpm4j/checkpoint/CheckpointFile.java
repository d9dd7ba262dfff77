package org.ddpm4j.checkpoint;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.zip.CRC32;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.train.TrainingState;

/**
 * The checkpoint file format, version 2 (version 1 files still load). Little-endian throughout:
 * <pre>
 * magic    8 bytes  "DDPM4JCK"
 * version  u32      2
 * sections, in this order, each
 *   name length u16, name (ASCII), payload length u64, payload, CRC32 u32 of name + payload
 *   config      JSON: model config, time-table kind, training hyper-parameters and preset, data source, class filter
 *   state       JSON: global_step, epoch, position, seed, adam_step, bn_batches
 *   params      f32[num_params]           (the native parameter order, named by the seed's state_dict)
 *   buffers     f32[num_buffers]          (BatchNorm running means and variances)
 *   adam        f32[2 * num_params]       (first moments, then second moments)
 *   ema         f32[num_params + num_buffers] or empty  (version 2 only: the EMA of the parameters,
 *               then of the BatchNorm statistics; empty = none)
 *   time_table  f32[timesteps * time_dim]
 *   end         empty
 * </pre>
 * Written to {@code X.tmp}, fsynced and renamed (see {@link AtomicFiles}). Reading
 * checks the magic, the version, every length against what is left of the file,
 * every CRC, and the end marker.
 */
public final class CheckpointFile {
    public static final byte[] MAGIC = "DDPM4JCK".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 2;
    /** The first format, without the ema section: still read. */
    public static final int VERSION_1 = 1;
    private static final int CHUNK = 1 << 20;

    private CheckpointFile() {}

    public static void write(Path file, Checkpoint c) {
        try {
            AtomicFiles.write(file, ch -> {
                ByteBuffer head = le(12);
                head.put(MAGIC).putInt(VERSION).flip();
                writeAll(ch, head);
                bytes(ch, "config", c.meta().toJson(c.model().timeTableKind()).toString().getBytes(StandardCharsets.UTF_8));
                JsonObject s = new JsonObject();
                s.addProperty("global_step", c.progress().globalStep());
                s.addProperty("epoch", c.progress().epoch());
                s.addProperty("position", c.progress().position());
                s.addProperty("seed", c.meta().training().seed());
                s.addProperty("adam_step", c.optimizer().adamStep());
                s.addProperty("bn_batches", c.model().bnBatches());
                bytes(ch, "state", s.toString().getBytes(StandardCharsets.UTF_8));
                floats(ch, "params", c.model().params());
                floats(ch, "buffers", c.model().buffers());
                floats(ch, "adam", c.optimizer().moments());
                floats(ch, "ema", c.model().hasEma() ? concat(c.model().emaParams(), c.model().emaBuffers()) : new float[0]);
                floats(ch, "time_table", c.model().timeTable());
                bytes(ch, "end", new byte[0]);
            });
        } catch (IOException e) {
            throw new CheckpointException("cannot write checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    public static Checkpoint read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return new Reader(file, ch).read();
        } catch (NoSuchFileException e) {
            throw new CheckpointException("checkpoint " + file + " does not exist");
        } catch (IOException e) {
            throw new CheckpointException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /** True when the file starts with the checkpoint magic (it may still be damaged). */
    public static boolean hasMagic(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(MAGIC.length);
            while (b.hasRemaining() && ch.read(b) >= 0) { /* fill */ }
            return !b.hasRemaining() && Arrays.equals(b.array(), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    // ---- writing --------------------------------------------------------------------

    private static float[] concat(float[] a, float[] b) {
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    private static CRC32 header(FileChannel ch, String name, long payload) throws IOException {
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer h = le(2 + n.length + 8);
        h.putShort((short) n.length).put(n).putLong(payload).flip();
        writeAll(ch, h);
        CRC32 crc = new CRC32();
        crc.update(n);
        return crc;
    }

    private static void trailer(FileChannel ch, CRC32 crc) throws IOException {
        ByteBuffer t = le(4);
        t.putInt((int) crc.getValue()).flip();
        writeAll(ch, t);
    }

    private static void bytes(FileChannel ch, String name, byte[] payload) throws IOException {
        CRC32 crc = header(ch, name, payload.length);
        crc.update(payload);
        writeAll(ch, ByteBuffer.wrap(payload));
        trailer(ch, crc);
    }

    private static void floats(FileChannel ch, String name, float[] v) throws IOException {
        CRC32 crc = header(ch, name, 4L * v.length);
        ByteBuffer buf = le(CHUNK);
        for (int i = 0; i < v.length; ) {
            int n = Math.min(CHUNK / 4, v.length - i);
            buf.clear();
            buf.asFloatBuffer().put(v, i, n);
            buf.limit(4 * n);
            crc.update(buf.duplicate());
            writeAll(ch, buf);
            i += n;
        }
        trailer(ch, crc);
    }

    // ---- reading --------------------------------------------------------------------

    private static final class Reader {
        private final Path file;
        private final FileChannel ch;
        private final long size;
        private String previous = "the header";

        Reader(Path file, FileChannel ch) throws IOException {
            this.file = file;
            this.ch = ch;
            this.size = ch.size();
        }

        private String prefix() {
            return "checkpoint " + file + " is ";
        }

        private ByteBuffer readExactly(int n, String what) throws IOException {
            ByteBuffer b = le(n);
            long left = size - ch.position();
            if (left < n) throw new CheckpointException(prefix() + "truncated: " + what + " needs " + n + " bytes, " + left + " left");
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) throw new CheckpointException(prefix() + "truncated in " + what);
            }
            return b.flip();
        }

        Checkpoint read() throws IOException {
            ByteBuffer m = ByteBuffer.allocate(MAGIC.length);
            while (m.hasRemaining() && ch.read(m) >= 0) { /* fill */ }
            if (m.hasRemaining() || !Arrays.equals(m.array(), MAGIC)) {
                throw new CheckpointException(file + " is not a ddpm4j checkpoint");
            }
            int version = readExactly(4, "the header").getInt();
            if (version != VERSION && version != VERSION_1) {
                throw new CheckpointException("checkpoint " + file + " has format version " + version
                        + "; this ddpm4j reads versions " + VERSION_1 + " and " + VERSION);
            }
            byte[] configBytes = bytes("config");
            byte[] stateBytes = bytes("state");
            JsonObject config;
            JsonObject state;
            CheckpointMeta meta;
            TimeTable kind;
            try {
                config = JsonParser.parseString(new String(configBytes, StandardCharsets.UTF_8)).getAsJsonObject();
                state = JsonParser.parseString(new String(stateBytes, StandardCharsets.UTF_8)).getAsJsonObject();
                meta = CheckpointMeta.fromJson(config);
                kind = CheckpointMeta.tableKind(config);
            } catch (JsonParseException | IllegalStateException | NullPointerException | IllegalArgumentException
                     | UnsupportedOperationException e) {
                throw new CheckpointException(prefix() + "corrupt: its config does not parse (" + e.getMessage() + ")", e);
            }
            float[] params = floats("params");
            float[] buffers = floats("buffers");
            float[] adam = floats("adam");
            float[] ema = version >= VERSION ? floats("ema") : new float[0];
            float[] table = floats("time_table");
            bytes("end");
            if (ch.position() != size) {
                throw new CheckpointException(prefix() + "corrupt: " + (size - ch.position()) + " bytes after the end marker");
            }
            long expectTable = (long) meta.model().timesteps() * meta.model().timeDim();
            if (table.length != expectTable || adam.length != 2L * params.length
                    || (ema.length != 0 && ema.length != (long) params.length + buffers.length)) {
                throw new CheckpointException(prefix() + "corrupt: section sizes do not match its config");
            }
            try {
                TrainingState progress = new TrainingState(state.get("global_step").getAsLong(),
                        state.get("epoch").getAsInt(), state.get("position").getAsInt());
                ModelState model = new ModelState(meta.model(), params, buffers, state.get("bn_batches").getAsLong(),
                        table, kind, ema.length == 0 ? null : Arrays.copyOf(ema, params.length),
                        ema.length == 0 ? null : Arrays.copyOfRange(ema, params.length, ema.length));
                OptimizerState opt = new OptimizerState(adam, state.get("adam_step").getAsLong());
                return new Checkpoint(meta, model, opt, progress);
            } catch (NullPointerException | IllegalStateException | NumberFormatException e) {
                throw new CheckpointException(prefix() + "corrupt: its state section is incomplete", e);
            }
        }

        /** Reads a section header, checks the name; returns the payload length. */
        private long open(String name) throws IOException {
            String where = "section '" + name + "' (after " + previous + ")";
            if (ch.position() == size) {
                throw new CheckpointException(prefix() + "truncated: it ends before " + where);
            }
            int len = readExactly(2, where).getShort() & 0xffff;
            byte[] n = new byte[len];
            readExactly(len, where).get(n);
            String got = new String(n, StandardCharsets.US_ASCII);
            if (!got.equals(name)) {
                throw new CheckpointException(prefix() + "corrupt: expected section '" + name + "', found '"
                        + printable(got) + "'");
            }
            long payload = readExactly(8, "section '" + name + "'").getLong();
            long left = size - ch.position();
            if (payload < 0 || payload + 4 > left) {
                throw new CheckpointException(prefix() + "truncated: section '" + name + "' needs " + (payload + 4)
                        + " bytes, " + left + " left");
            }
            return payload;
        }

        private void close(String name, CRC32 crc) throws IOException {
            int stored = readExactly(4, "section '" + name + "'").getInt();
            if (stored != (int) crc.getValue()) {
                throw new CheckpointException(prefix() + "corrupt: section '" + name + "' fails its CRC32 check");
            }
            previous = "section '" + name + "'";
        }

        private byte[] bytes(String name) throws IOException {
            long len = open(name);
            if (len > 64L << 20) throw new CheckpointException(prefix() + "corrupt: section '" + name + "' is " + len + " bytes");
            byte[] payload = new byte[(int) len];
            readExactly((int) len, "section '" + name + "'").get(payload);
            CRC32 crc = new CRC32();
            crc.update(name.getBytes(StandardCharsets.US_ASCII));
            crc.update(payload);
            close(name, crc);
            return payload;
        }

        private float[] floats(String name) throws IOException {
            long len = open(name);
            if (len % 4 != 0 || len / 4 > Integer.MAX_VALUE - 8) {
                throw new CheckpointException(prefix() + "corrupt: section '" + name + "' has " + len + " bytes");
            }
            float[] v = new float[(int) (len / 4)];
            CRC32 crc = new CRC32();
            crc.update(name.getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < v.length; ) {
                int n = Math.min(CHUNK / 4, v.length - i);
                ByteBuffer b = readExactly(4 * n, "section '" + name + "'");
                crc.update(b.duplicate());
                b.asFloatBuffer().get(v, i, n);
                i += n;
            }
            close(name, crc);
            return v;
        }

        private static String printable(String s) {
            StringBuilder sb = new StringBuilder();
            for (char c : s.toCharArray()) sb.append(c >= 32 && c < 127 ? c : '?');
            return sb.length() > 40 ? sb.substring(0, 40) + "..." : sb.toString();
        }
    }
}
