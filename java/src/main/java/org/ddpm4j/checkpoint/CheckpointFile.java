package org.ddpm4j.checkpoint;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.train.Preset;
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
 * checks the magic, the version, every length against what is left of the file
 * (before allocating anything), every CRC, the end marker, and the JSON sections
 * strictly: valid UTF-8 JSON without duplicate keys, every field of the type it is
 * written with (an integer is never read from 16.9 or "16"), values in range.
 * Every refusal is a {@link CheckpointException} naming the file.
 */
public final class CheckpointFile {
    public static final byte[] MAGIC = "DDPM4JCK".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 2;
    /** The first format, without the ema section: still read. */
    public static final int VERSION_1 = 1;
    private static final int CHUNK = 1 << 20;
    private static final long MAX_JSON_BYTES = 64L << 20;

    /** The config as this version writes it: the type of every field a reader needs (nulls: string or null). */
    private static final JsonObject CONFIG_TEMPLATE = new CheckpointMeta(UNetConfig.seed(), Preset.TINY.settings(),
            DataSpec.cifar(null, Split.TRAIN), 0, null).toJson(TimeTable.STANDARD);

    /** Config fields that hold one of a few words, as written (enum labels). */
    private static final Map<String, List<String>> CONFIG_WORDS = Map.of(
            "time_table", labels(TimeTable.values()),
            "training.initial_time_table", labels(TimeTable.values()),
            "data.split", labels(Split.values()),
            "data.source", List.of(DataSpec.CIFAR10, DataSpec.FOLDER, DataSpec.MEMORY),
            "model.schedule", labels(NoiseSchedule.values()),
            "training.lr_schedule", labels(LrSchedule.Kind.values()),
            "model.prediction", labels(Prediction.values()),
            "training.grid_sampler", Stream.of(SamplerKind.values()).map(SamplerKind::label).toList(),
            "training.optimizer", labels(Optimizer.values()),
            "data.resize", labels(Resize.values()));

    /** Config fields version 2 added (the noise schedule, class conditioning, the EMA): a version-1 file lacks them. */
    private static final Set<String> ADDED_IN_2 = Stream.concat(Configs.ADDED_FIELDS.stream(), Stream.of("ema_decay", "cond_drop"))
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    /** Config fields added within version 2 (the learning-rate schedule, gradient clipping, Min-SNR weighting,
     * v prediction, the EMA's power warm-up, the grid sampler, AdamW, Karras grids): files written before them lack them. */
    private static final Set<String> ADDED_WITHIN_2 = Set.of("lr_schedule", "lr_warmup", "lr_decay_steps", "max_grad_norm",
            "snr_gamma", "prediction", "ema_power", "grid_sampler", "grid_steps", "optimizer", "grid_karras");
    private static final Set<String> ADDED_SINCE_1 = Stream.concat(ADDED_IN_2.stream(), ADDED_WITHIN_2.stream())
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    private CheckpointFile() {}

    private static List<String> labels(Enum<?>[] values) {
        return Stream.of(values).map(v -> v.name().toLowerCase(Locale.ROOT)).toList();
    }

    public static void write(Path file, Checkpoint c) {
        try {
            AtomicFiles.write(file, ch -> write(ch, c));
        } catch (IOException e) {
            throw new CheckpointException("cannot write checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes the whole checkpoint to {@code ch}, from the magic to the end marker. */
    static void write(WritableByteChannel ch, Checkpoint c) throws IOException {
        ModelState m = c.model();
        write(ch, c.meta(), m.timeTableKind(), c.progress(), StateBuffers.of(m, c.optimizer()));
    }

    /**
     * Writes a checkpoint whose arrays are buffers (a snapshot copied off the device into host memory,
     * see {@link StateBuffers}), through a temporary file and a rename as {@link #write(Path, Checkpoint)}.
     */
    public static void write(Path file, CheckpointMeta meta, TimeTable kind, TrainingState progress, StateBuffers state) {
        try {
            AtomicFiles.write(file, ch -> write(ch, meta, kind, progress, state));
        } catch (IOException e) {
            throw new CheckpointException("cannot write checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    private static void write(WritableByteChannel ch, CheckpointMeta meta, TimeTable kind, TrainingState progress,
                              StateBuffers st) throws IOException {
        ByteBuffer head = le(12);
        head.put(MAGIC).putInt(VERSION).flip();
        writeAll(ch, head);
        bytes(ch, "config", meta.toJson(kind).toString().getBytes(StandardCharsets.UTF_8));
        JsonObject s = new JsonObject();
        s.addProperty("global_step", progress.globalStep());
        s.addProperty("epoch", progress.epoch());
        s.addProperty("position", progress.position());
        s.addProperty("seed", meta.training().seed());
        s.addProperty("adam_step", st.adamStep());
        s.addProperty("bn_batches", st.bnBatches());
        bytes(ch, "state", s.toString().getBytes(StandardCharsets.UTF_8));
        floats(ch, "params", st.params());
        floats(ch, "buffers", st.buffers());
        floats(ch, "adam", st.adam());
        if (st.emaParams() != null) floats(ch, "ema", st.emaParams(), st.emaBuffers());
        else floats(ch, "ema");
        floats(ch, "time_table", st.timeTable());
        bytes(ch, "end", new byte[0]);
    }

    public static Checkpoint read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(file.toString(), ch);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("checkpoint " + file + " does not exist");
        } catch (IOException e) {
            throw new CheckpointException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a checkpoint from {@code ch} (positioned at its start, ending at its size).
     *
     * @param source the file's name, for messages
     */
    static Checkpoint read(String source, SeekableByteChannel ch) throws IOException {
        return new Reader(source, ch).read();
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

    /**
     * What makes a model configuration impossible, or null: the same bounds as the
     * command line's model flags, so that no file can hand the native code a shape no
     * flag could.
     */
    static String modelProblem(UNetConfig c) {
        if (c.inChannels() != 1 && c.inChannels() != 3) return "in_channels " + c.inChannels() + ", expected 1 or 3";
        if (c.depth() < 1 || c.depth() > 8) return "depth " + c.depth() + ", expected 1 to 8";
        if (c.baseWidth() < 1 || ((long) c.baseWidth() << c.depth()) > 65536) {
            return "base_width " + c.baseWidth() + ", expected at least 1 and base_width * 2^depth <= 65536";
        }
        if (c.height() < (1 << c.depth()) || c.width() < (1 << c.depth()) || c.height() > 65536 || c.width() > 65536) {
            return "an image of " + c.height() + "x" + c.width() + ", expected sides from 2^depth = " + (1 << c.depth())
                    + " to 65536";
        }
        if (c.timeDim() < 2) return "time_dim " + c.timeDim() + ", expected at least 2";
        if (c.timesteps() < 2) return "timesteps " + c.timesteps() + ", expected at least 2";
        if (c.numClasses() < 0 || c.numClasses() > 65535) return "num_classes " + c.numClasses() + ", expected 0 to 65535";
        if (!(c.betaStart() > 0 && c.betaStart() <= c.betaEnd() && c.betaEnd() < 1)) {
            return "betas " + c.betaStart() + ".." + c.betaEnd() + ", expected 0 < beta_start <= beta_end < 1";
        }
        return null;
    }

    // ---- writing --------------------------------------------------------------------

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void writeAll(WritableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    private static CRC32 header(WritableByteChannel ch, String name, long payload) throws IOException {
        byte[] n = name.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer h = le(2 + n.length + 8);
        h.putShort((short) n.length).put(n).putLong(payload).flip();
        writeAll(ch, h);
        CRC32 crc = new CRC32();
        crc.update(n);
        return crc;
    }

    private static void trailer(WritableByteChannel ch, CRC32 crc) throws IOException {
        ByteBuffer t = le(4);
        t.putInt((int) crc.getValue()).flip();
        writeAll(ch, t);
    }

    private static void bytes(WritableByteChannel ch, String name, byte[] payload) throws IOException {
        CRC32 crc = header(ch, name, payload.length);
        crc.update(payload);
        writeAll(ch, ByteBuffer.wrap(payload));
        trailer(ch, crc);
    }

    /** One section holding the buffers' remaining floats one after the other (none: an empty section). */
    private static void floats(WritableByteChannel ch, String name, FloatBuffer... parts) throws IOException {
        long total = 0;
        for (FloatBuffer v : parts) total += v.remaining();
        CRC32 crc = header(ch, name, 4L * total);
        ByteBuffer buf = le(CHUNK);
        for (FloatBuffer part : parts) {
            FloatBuffer v = part.duplicate();
            while (v.hasRemaining()) {
                int n = Math.min(CHUNK / 4, v.remaining());
                buf.clear();
                buf.asFloatBuffer().put(v.slice().limit(n));
                v.position(v.position() + n);
                buf.limit(4 * n);
                crc.update(buf.duplicate());
                writeAll(ch, buf);
            }
        }
        trailer(ch, crc);
    }

    // ---- reading --------------------------------------------------------------------

    private static final class Reader {
        private final String source;
        private final SeekableByteChannel ch;
        private final long size;
        private String previous = "the header";

        Reader(String source, SeekableByteChannel ch) throws IOException {
            this.source = source;
            this.ch = ch;
            this.size = ch.size();
        }

        private String prefix() {
            return "checkpoint " + source + " is ";
        }

        private CheckpointException corrupt(String what) {
            return new CheckpointException(prefix() + "corrupt: " + what);
        }

        private ByteBuffer readExactly(int n, String what) throws IOException {
            long left = size - ch.position();
            if (left < n) throw new CheckpointException(prefix() + "truncated: " + what + " needs " + n + " bytes, " + left + " left");
            ByteBuffer b = le(n);
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) throw new CheckpointException(prefix() + "truncated in " + what);
            }
            return b.flip();
        }

        Checkpoint read() throws IOException {
            ByteBuffer m = ByteBuffer.allocate(MAGIC.length);
            while (m.hasRemaining() && ch.read(m) >= 0) { /* fill */ }
            if (m.hasRemaining() || !Arrays.equals(m.array(), MAGIC)) {
                throw new CheckpointException(source + " is not a ddpm4j checkpoint");
            }
            int version = readExactly(4, "the header").getInt();
            if (version != VERSION && version != VERSION_1) {
                throw new CheckpointException("checkpoint " + source + " has format version " + Integer.toUnsignedString(version)
                        + "; this ddpm4j reads versions " + VERSION_1 + " and " + VERSION);
            }
            JsonObject config = json("config");
            JsonObject state = json("state");
            CheckpointMeta meta = meta(config, version);
            TimeTable kind = CheckpointMeta.tableKind(config);
            long globalStep = integer(state, "global_step", 0, Long.MAX_VALUE);
            int epoch = (int) integer(state, "epoch", 0, Integer.MAX_VALUE);
            int position = (int) integer(state, "position", 0, Integer.MAX_VALUE);
            long seed = integer(state, "seed", Long.MIN_VALUE, Long.MAX_VALUE);
            long adamStep = integer(state, "adam_step", 0, Long.MAX_VALUE);
            long bnBatches = integer(state, "bn_batches", 0, Long.MAX_VALUE);
            if (seed != meta.training().seed()) {
                throw corrupt("its state has seed " + seed + " but its config " + meta.training().seed());
            }
            float[] params = floats("params");
            float[] buffers = floats("buffers");
            float[] adam = floats("adam");
            float[] ema = version >= VERSION ? floats("ema") : new float[0];
            float[] table = floats("time_table");
            bytes("end");
            if (ch.position() != size) throw corrupt((size - ch.position()) + " bytes after the end marker");
            long expectTable = (long) meta.model().timesteps() * meta.model().timeDim();
            if (table.length != expectTable) {
                throw corrupt("section 'time_table' holds " + table.length + " floats, its config's timesteps x time_dim is "
                        + expectTable);
            }
            if (adam.length != 2L * params.length) {
                throw corrupt("section 'adam' holds " + adam.length + " floats, expected twice the " + params.length + " params");
            }
            if (ema.length != 0 && ema.length != (long) params.length + buffers.length) {
                throw corrupt("section 'ema' holds " + ema.length + " floats, expected none or the " + params.length
                        + " params and " + buffers.length + " buffers");
            }
            ModelState model = new ModelState(meta.model(), params, buffers, bnBatches, table, kind,
                    ema.length == 0 ? null : Arrays.copyOf(ema, params.length),
                    ema.length == 0 ? null : Arrays.copyOfRange(ema, params.length, ema.length));
            return new Checkpoint(meta, model, new OptimizerState(adam, adamStep), new TrainingState(globalStep, epoch, position));
        }

        /** The config, checked field by field against what this version writes before it is converted. */
        private CheckpointMeta meta(JsonObject config, int version) {
            CheckpointMeta.upgradeResize(config);
            try {
                StrictJson.checkTypes(config, CONFIG_TEMPLATE, "config", version >= VERSION ? ADDED_WITHIN_2 : ADDED_SINCE_1);
            } catch (StrictJson.Invalid e) {
                throw corrupt(e.getMessage());
            }
            for (Map.Entry<String, List<String>> w : CONFIG_WORDS.entrySet()) {
                JsonObject o = config;
                String[] path = w.getKey().split("\\.");
                for (int i = 0; i < path.length - 1; i++) o = o.getAsJsonObject(path[i]);
                if (!o.has(path[path.length - 1])) continue;  // a field a version-1 file lacks (checked above)
                String v = o.get(path[path.length - 1]).getAsString();
                if (!w.getValue().contains(v)) {
                    throw corrupt("config." + w.getKey() + " is \"" + StrictJson.printable(v) + "\", expected one of "
                            + String.join(", ", w.getValue()));
                }
            }
            CheckpointMeta meta;
            try {
                meta = CheckpointMeta.fromJson(config);
            } catch (IllegalArgumentException e) {  // a value the settings' own checks refuse
                throw corrupt("its config is out of range (" + StrictJson.clean(String.valueOf(e.getMessage()), 200) + ")");
            }
            String problem = modelProblem(meta.model());
            if (problem != null) throw corrupt("its config has " + problem);
            if (config.has("class_names")) classNames(config.get("class_names"), meta.model().numClasses());
            if (meta.images() < 0) throw corrupt("config.data.images is " + meta.images() + ", expected a non-negative integer");
            return meta;
        }

        /** class_names: as many strings as the model has classes. */
        private void classNames(com.google.gson.JsonElement names, int classes) {
            if (!names.isJsonArray() || names.getAsJsonArray().size() != classes) {
                throw corrupt("config.class_names is " + StrictJson.clean(names.toString(), 60) + ", expected an array of the "
                        + classes + " class names of model.num_classes");
            }
            for (com.google.gson.JsonElement n : names.getAsJsonArray()) {
                if (!n.isJsonPrimitive() || !n.getAsJsonPrimitive().isString()) {
                    throw corrupt("config.class_names holds " + StrictJson.clean(n.toString(), 40) + ", expected strings");
                }
            }
        }

        private long integer(JsonObject state, String field, long min, long max) {
            try {
                return StrictJson.integer(state.get(field), min, max, "state." + field);
            } catch (StrictJson.Invalid e) {
                throw corrupt(e.getMessage());
            }
        }

        /** A JSON section, parsed strictly. */
        private JsonObject json(String name) throws IOException {
            byte[] b = bytes(name);
            try {
                return StrictJson.parseObject(b, 0, b.length);
            } catch (StrictJson.Invalid e) {
                throw corrupt("section '" + name + "' " + e.getMessage());
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
                throw corrupt("expected section '" + name + "', found '" + StrictJson.printable(got) + "'");
            }
            long payload = readExactly(8, "section '" + name + "'").getLong();
            long left = size - ch.position();
            if (payload < 0 || payload > left - 4) {  // (payload + 4 could overflow)
                throw new CheckpointException(prefix() + "truncated: section '" + name + "' needs "
                        + (payload < 0 ? Long.toUnsignedString(payload) : String.valueOf(payload + 4)) + " bytes, " + left + " left");
            }
            return payload;
        }

        private void close(String name, CRC32 crc) throws IOException {
            int stored = readExactly(4, "section '" + name + "'").getInt();
            if (stored != (int) crc.getValue()) throw corrupt("section '" + name + "' fails its CRC32 check");
            previous = "section '" + name + "'";
        }

        private byte[] bytes(String name) throws IOException {
            long len = open(name);
            if (len > MAX_JSON_BYTES) throw corrupt("section '" + name + "' is " + len + " bytes, more than " + MAX_JSON_BYTES);
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
                throw corrupt("section '" + name + "' has " + len + " bytes, not a whole number of floats");
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
    }
}
