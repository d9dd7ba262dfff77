package org.ddpm4j.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongToDoubleFunction;

/**
 * The per-step loss log, one JSON object per line:
 * {@code {"step":123,"epoch":0,"loss":0.0812345}}, with the step's learning rate
 * ({@code "lr":0.000095}) when a schedule moves it and its gradient norm before clipping
 * ({@code "grad_norm":1.83}) when the run clips. Opening it for a resumed run
 * drops the lines at or after the resume step (written after the checkpoint by a
 * run that then died), so each step appears once.
 */
public final class LossLog implements LossSink, AutoCloseable {
    private final BufferedWriter out;
    private final int perEpoch;
    private final LongToDoubleFunction lrAt;

    private LossLog(BufferedWriter out, int perEpoch, LongToDoubleFunction lrAt) {
        this.out = out;
        this.perEpoch = perEpoch;
        this.lrAt = lrAt;
    }

    /** A log without learning rates (a constant one). */
    public static LossLog open(Path file, long fromStep, int perEpoch) {
        return open(file, fromStep, perEpoch, null);
    }

    /**
     * @param fromStep steps before this are kept from an existing log; the rest are dropped
     * @param perEpoch batches per epoch (for the epoch field)
     * @param lrAt the learning rate of a step, for the lr field; null: no such field
     */
    public static LossLog open(Path file, long fromStep, int perEpoch, LongToDoubleFunction lrAt) {
        try {
            if (fromStep > 0 && Files.exists(file)) {
                List<String> keep = new ArrayList<>();
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    Entry e = parse(line);
                    if (e != null && e.step < fromStep) keep.add(line);
                }
                Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
                Files.write(tmp, keep, StandardCharsets.UTF_8);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } else {
                Files.deleteIfExists(file);
            }
            BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            return new LossLog(w, perEpoch, lrAt);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss log " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void accept(long firstStep, float[] losses) {
        accept(firstStep, losses, null);
    }

    @Override
    public void accept(long firstStep, float[] losses, float[] gradNorms) {
        try {
            for (int i = 0; i < losses.length; i++) {
                long step = firstStep + i;
                out.write(String.format(Locale.ROOT, "{\"step\":%d,\"epoch\":%d,\"loss\":%s%s%s}", step, step / perEpoch,
                        jsonFloat(losses[i]), lrAt == null ? "" : ",\"lr\":" + lrAt.applyAsDouble(step),
                        gradNorms == null ? "" : ",\"grad_norm\":" + jsonFloat(gradNorms[i])));
                out.newLine();
            }
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss log: " + e.getMessage(), e);
        }
    }

    private static String jsonFloat(float f) {
        return Float.isFinite(f) ? Float.toString(f) : "null";
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line of the log. */
    public record Entry(long step, float loss) {}

    /** Reads a log (lines that do not parse are skipped; a null loss reads as NaN). */
    public static List<Entry> read(Path file) {
        List<Entry> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                Entry e = parse(line);
                if (e != null) out.add(e);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the loss log " + file + ": " + e.getMessage(), e);
        }
        return out;
    }

    static Entry parse(String line) {
        try {
            long step = Long.parseLong(field(line, "step"));
            String l = field(line, "loss");
            return new Entry(step, l.equals("null") ? Float.NaN : Float.parseFloat(l));
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String field(String line, String name) {
        String key = "\"" + name + "\":";
        int i = line.indexOf(key);
        if (i < 0) throw new IllegalArgumentException("no " + name);
        int s = i + key.length();
        int e = s;
        while (e < line.length() && line.charAt(e) != ',' && line.charAt(e) != '}') e++;
        return line.substring(s, e).trim();
    }
}
