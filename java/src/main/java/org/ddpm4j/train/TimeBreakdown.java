package org.ddpm4j.train;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a training run's wall time went, phase by phase. The phases do not overlap;
 * work done on background threads (checkpoint files written while training goes on)
 * is reported beside them, not added in.
 */
public final class TimeBreakdown {
    public enum Phase {
        SETUP("setup", "JVM start, data, model, backend"),
        WARMUP("warm-up", "the first steps: algorithm search, graph capture"),
        STEPS("training", "training steps, loss reads"),
        DATA("data wait", "waiting for the next batch"),
        CHECKPOINTS("checkpoints", "snapshots of the model for the checkpoint writer"),
        GRIDS("sample grids", "sample grids during training"),
        FINISH("finish", "waiting for the last files, the loss plot");

        final String label;
        final String meaning;

        Phase(String label, String meaning) {
            this.label = label;
            this.meaning = meaning;
        }

        public String label() {
            return label;
        }

        public String meaning() {
            return meaning;
        }
    }

    private final Map<Phase, Long> nanos = new EnumMap<>(Phase.class);
    private long backgroundWriteNanos;

    public void add(Phase p, long n) {
        nanos.merge(p, n, Long::sum);
    }

    /** Time the background writer spent writing files (overlapping training). */
    public void addBackgroundWrite(long n) {
        backgroundWriteNanos += n;
    }

    public double seconds(Phase p) {
        return nanos.getOrDefault(p, 0L) / 1e9;
    }

    public double totalSeconds() {
        long s = 0;
        for (long v : nanos.values()) s += v;
        return s / 1e9;
    }

    public double backgroundWriteSeconds() {
        return backgroundWriteNanos / 1e9;
    }

    /** One line: "time 1m12s: setup 2.1s, warm-up 0.4s, training 65.0s, data wait 0.1s, ..." (phases that took any time). */
    public String line() {
        List<String> parts = new ArrayList<>();
        for (Phase p : Phase.values()) {
            Long v = nanos.get(p);
            if (v != null && (v > 0 || p == Phase.STEPS)) parts.add(p.label + " " + seconds(v / 1e9));
        }
        String bg = backgroundWriteNanos > 0
                ? String.format(Locale.ROOT, " (files written in the background: %s)", seconds(backgroundWriteSeconds())) : "";
        return "time " + Progress.duration(totalSeconds()) + ": " + String.join(", ", parts) + bg;
    }

    private static String seconds(double s) {
        return s >= 100 ? Progress.duration(s) : String.format(Locale.ROOT, "%.1fs", s);
    }

    /** {"setup_s": ..., "warmup_s": ..., ..., "total_s": ..., "background_write_s": ...}. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        for (Phase p : Phase.values()) o.addProperty(p.name().toLowerCase(Locale.ROOT) + "_s", round(seconds(p)));
        o.addProperty("total_s", round(totalSeconds()));
        o.addProperty("background_write_s", round(backgroundWriteSeconds()));
        return o;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
