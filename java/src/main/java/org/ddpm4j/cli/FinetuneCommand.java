package org.ddpm4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.checkpoint.CheckpointMeta;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import org.ddpm4j.job.ModelFiles;
import org.ddpm4j.job.RunFiles;
import org.ddpm4j.job.TrainJob;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.train.Preset;
import org.ddpm4j.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "finetune", mixinStandardHelpOptions = true, sortOptions = false, usageHelpAutoWidth = true,
        description = {"Fine-tune a copy of a trained model on one class (the notebook's per-class step: Adam lr 3e-4, 10 epochs, fresh optimiser).",
                "The base (a checkpoint or a seed-format safetensors file) is only read, never modified.",
                "Writes OUT/model.ckpt, OUT/loss.jsonl, OUT/loss.png and sample grids as train does."})
public final class FinetuneCommand implements Callable<Integer> {
    private final Io io;

    @Option(names = "--from", paramLabel = "FILE", description = "The base model: a ddpm4j checkpoint or a safetensors file.")
    Path from;

    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default: runs/finetune-<class>).")
    Path out;

    @Option(names = "--resume", description = "Continue the fine-tune in --out from its checkpoint.")
    boolean resume;

    @Option(names = "--force", description = "Start over even if --out already holds a checkpoint.")
    boolean force;

    @Mixin TrainOptions train;
    @Mixin DataOptions data;
    @Mixin WeightChoiceOptions choice;
    @Mixin WeightsOptions weights;
    @Mixin CommonOptions common;

    FinetuneCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        TrainJob.Request req;
        try (Backend be = common.openBackend()) {
            if (train.timeTable != null) {
                throw new IllegalArgumentException("--time-table does not apply to finetune: a fine-tune keeps the time table "
                        + "its base model was trained with (it is part of the weights)");
            }
            if (resume) {
                if (out == null) throw new IllegalArgumentException("--resume needs --out DIR (the fine-tune's run folder)");
                req = Runs.resume(out, io, common, null, train, data, train.keep, ck -> {
                    List<String> changed = new ArrayList<>(weights.changedFrom(ck.meta().model()));
                    String base = ck.meta().finetunedFrom();
                    if (from != null && (base == null || !from.toAbsolutePath().normalize().toString().equals(base))) {
                        changed.add(Changes.of("--from", from, base == null ? "no base model" : base));
                    }
                    if (choice.weights != null) changed.add("--weights " + choice.weights.label() + " (a resumed fine-tune keeps its own weights)");
                    return changed;
                });
            } else {
                if (from == null) throw new IllegalArgumentException("finetune needs --from FILE (the base model)");
                if (data.className == null) throw new IllegalArgumentException("finetune needs --class NAME (e.g. --class ship)");
                Path dir = out != null ? out : Path.of("runs", "finetune-" + data.className.toLowerCase(java.util.Locale.ROOT));
                Path target = new RunFiles(dir).checkpoint();
                if (sameFile(target, from)) {
                    throw new IllegalArgumentException("--out would overwrite the base model " + from + "; choose another folder");
                }
                ModelFiles.Loaded base = ModelFiles.load(be, from, weights.fallback());
                UNetConfig cfg = base.state().config();
                TrainSettings baseSettings;
                DataSpec baseData;
                if (base.checkpoint() != null) {
                    CheckpointMeta m = base.checkpoint().meta();
                    baseSettings = m.training();
                    baseData = m.data().withLimit(0);
                } else {
                    baseSettings = Preset.SEED.settings().withPreset("imported");
                    baseData = DataSpec.cifar(null, Split.TRAIN);
                }
                TrainSettings s = baseSettings.withLr(Preset.FINETUNE_LR).withEpochs(Preset.FINETUNE_EPOCHS).withMaxSteps(0);
                s = train.apply(s, common.seed);
                boolean ownData = data.source != null || data.images != null || data.split != null || data.limit != null
                        || data.resize != null;
                DataSpec spec = ownData ? data.spec() : data.relocate(baseData).withClass(data.className);
                req = new TrainJob.Request(cfg, s, spec, data.locator(), dir, null, force, train.progress,
                        base.state().select(choice.weights), from.toAbsolutePath().normalize().toString(), train.keep, null);
            }
            Runs.trainAndReport(io, be, req);
        }
        return 0;
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
