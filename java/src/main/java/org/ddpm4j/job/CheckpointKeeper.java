package org.ddpm4j.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.checkpoint.StateBuffers;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.train.TrainingState;

/**
 * A run folder's checkpoints: {@code model.ckpt} is always the newest; up to
 * {@code keep - 1} older ones stay beside it as {@code model-step<N>.ckpt}, so one bad
 * file never means starting over. Before a new checkpoint replaces model.ckpt (atomically,
 * see {@link CheckpointFile#write}), the current one gets its step-named second name as a
 * hard link (a copy where links are not supported): at no moment is there no model.ckpt.
 */
final class CheckpointKeeper {
    private final RunFiles files;
    private final int keep;
    private long stepOnDisk;
    private boolean dropForeign;

    /**
     * @param keep checkpoints to keep, the newest included (at least 1)
     * @param stepOnDisk the global step model.ckpt holds when it is this run's and intact (a run resumed from
     *     it), else -1: then it is not kept under a second name when the next checkpoint replaces it
     * @param replacingRun a new run in a folder that may hold another run's files (--force): its older
     *     checkpoints are dropped at the first write
     */
    CheckpointKeeper(RunFiles files, int keep, long stepOnDisk, boolean replacingRun) {
        if (keep < 1) throw Setting.KEEP.invalid("must be >= 1, got " + keep);
        this.files = files;
        this.keep = keep;
        this.stepOnDisk = stepOnDisk;
        this.dropForeign = replacingRun;
    }

    /** The global step model.ckpt holds if this run wrote it (or resumed from it intact), else -1. */
    long stepOnDisk() {
        return stepOnDisk;
    }

    /** Writes the checkpoint as model.ckpt, keeping the previous one under its step name, and prunes the older ones. */
    void write(CheckpointMeta meta, TimeTable kind, TrainingState progress, StateBuffers state) {
        long step = progress.globalStep();
        Path newest = files.checkpoint();
        if (keep > 1 && stepOnDisk >= 0 && stepOnDisk != step && Files.exists(newest)) {
            secondName(newest, files.olderCheckpoint(stepOnDisk));
        }
        CheckpointFile.write(newest, meta, kind, progress, state);
        stepOnDisk = step;
        prune(step);
        dropForeign = false;
    }

    private static void secondName(Path newest, Path older) {
        try {
            Files.deleteIfExists(older);
            try {
                Files.createLink(older, newest);
            } catch (UnsupportedOperationException | IOException e) {  // no hard links on this file system
                Path tmp = older.resolveSibling(older.getFileName() + ".tmp");
                Files.copy(newest, tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, older, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot keep the previous checkpoint as " + older + ": " + e.getMessage(), e);
        }
    }

    /** Keeps the keep-1 newest older files below {@code step}; drops the rest (and all of a replaced run's). */
    private void prune(long step) {
        int kept = 0;
        for (RunFiles.Older o : files.olderCheckpoints()) {
            boolean stay = !dropForeign && o.step() < step && kept < keep - 1;
            if (stay) {
                kept++;
                continue;
            }
            try {
                Files.deleteIfExists(o.file());
            } catch (IOException e) {
                throw new CheckpointException("cannot remove the old checkpoint " + o.file() + ": " + e.getMessage(), e);
            }
        }
    }

    /** A checkpoint read for resuming, and the file it came from. */
    record Found(Checkpoint checkpoint, Path file) {}

    /**
     * The newest checkpoint of the folder that reads back intact: model.ckpt, else the older ones, newest
     * first (each skipped one is reported through {@code warn}). Throws when none is readable, naming each.
     */
    static Found readNewest(RunFiles files, Consumer<String> warn) {
        List<Path> candidates = new ArrayList<>();
        if (Files.exists(files.checkpoint())) candidates.add(files.checkpoint());
        for (RunFiles.Older o : files.olderCheckpoints()) candidates.add(o.file());
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("nothing to resume: " + files.checkpoint() + " does not exist");
        }
        List<String> problems = new ArrayList<>();
        for (Path p : candidates) {
            try {
                Checkpoint c = CheckpointFile.read(p);
                for (String problem : problems) warn.accept("warning: " + problem + "; resuming from " + p);
                return new Found(c, p);
            } catch (CheckpointException e) {
                problems.add(e.getMessage());
            }
        }
        if (problems.size() == 1) throw new CheckpointException(problems.get(0));
        throw new CheckpointException("no checkpoint in " + files.dir() + " can be read: " + String.join("; ", problems));
    }
}
