package org.ddpm4j.job;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The files of a training run's output folder. */
public record RunFiles(Path dir) {
    private static final Pattern OLDER = Pattern.compile("model-step(\\d{1,18})\\.ckpt");

    /** The newest checkpoint. */
    public Path checkpoint() {
        return dir.resolve("model.ckpt");
    }

    /** An older checkpoint kept beside the newest (see --keep): the one written at global step {@code step}. */
    public Path olderCheckpoint(long step) {
        return dir.resolve("model-step" + step + ".ckpt");
    }

    /** The older checkpoints present, newest (highest step) first. */
    public List<Older> olderCheckpoints() {
        List<Older> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "model-step*.ckpt")) {
            for (Path p : ds) {
                Matcher m = OLDER.matcher(p.getFileName().toString());
                if (m.matches()) out.add(new Older(Long.parseLong(m.group(1)), p));
            }
        } catch (IOException e) {
            return out;  // nothing listable is nothing to fall back on
        }
        out.sort(Comparator.comparingLong(Older::step).reversed());
        return out;
    }

    /** An older checkpoint file and the global step it holds. */
    public record Older(long step, Path file) {}

    public Path lossLog() {
        return dir.resolve("loss.jsonl");
    }

    public Path lossPlot() {
        return dir.resolve("loss.png");
    }

    /** The run's summary for scripts: configuration, device, time breakdown, losses. */
    public Path runJson() {
        return dir.resolve("run.json");
    }

    public Path samplesDir() {
        return dir.resolve("samples");
    }

    /** The grid written after epoch {@code epoch} (1-based). */
    public Path epochGrid(int epoch) {
        return samplesDir().resolve(String.format("epoch-%03d.png", epoch));
    }
}
