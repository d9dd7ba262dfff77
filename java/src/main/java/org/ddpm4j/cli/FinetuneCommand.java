package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.api.Trainer;
import picocli.CommandLine.ArgGroup;
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

    @ArgGroup(exclusive = true)
    StartOptions start;

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
        Trainer t;
        if (StartOptions.resume(start)) {
            if (out == null) throw new InvalidInputException("--resume needs --out DIR (the fine-tune's run folder)");
            t = Trainer.resume(out).data(data.toData(data.source != null));
            if (from != null || choice.weights != null || weights.given()) t.fineTunedFrom(from, weights.loadOptions(choice.weights));
        } else {
            if (from == null) throw new InvalidInputException("finetune needs --from FILE (the base model)");
            if (data.className == null) throw new InvalidInputException("finetune needs --class NAME (e.g. --class ship)");
            Path dir = out != null ? out : Path.of("runs", "finetune-" + data.className.toLowerCase(Locale.ROOT));
            // Without flags choosing other images, the base model's own data, of the class asked for.
            t = Trainer.fineTune(from, weights.loadOptions(choice.weights)).outputDir(dir).force(StartOptions.force(start))
                    .data(data.toData(data.choosesImages()));
        }
        Runs.trainAndReport(io, t, common, train);
        return 0;
    }
}
