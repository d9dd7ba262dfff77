package org.ddpm4j.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import java.util.ArrayList;
import java.util.List;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.train.TrainSettings;

/**
 * The JSON configuration section of a checkpoint: model shape and schedule,
 * training hyper-parameters (with the preset they came from), the data source and
 * class filter, and where a fine-tuned model came from.
 *
 * @param images number of training images (a resumed run checks it finds the same)
 * @param finetunedFrom the base checkpoint of a fine-tuned model, or null
 * @param classNames the names of the labels a class-conditional model was trained on (label i is
 *     classNames[i]), or null
 */
public record CheckpointMeta(UNetConfig model, TrainSettings training, DataSpec data, int images, String finetunedFrom,
                             List<String> classNames) {

    public CheckpointMeta {
        classNames = classNames == null ? null : List.copyOf(classNames);
    }

    /** The configuration of a model without class names (unconditional). */
    public CheckpointMeta(UNetConfig model, TrainSettings training, DataSpec data, int images, String finetunedFrom) {
        this(model, training, data, images, finetunedFrom, null);
    }

    public JsonObject toJson(TimeTable tableKind) {
        JsonObject o = new JsonObject();
        o.addProperty("format", "ddpm4j-checkpoint");
        o.add("model", Configs.toJson(model));
        o.addProperty("time_table", tableKind.label());
        JsonObject t = new JsonObject();
        t.addProperty("preset", training.preset());
        t.addProperty("batch", training.batch());
        t.addProperty("lr", training.adam().lr());
        t.addProperty("beta1", training.adam().beta1());
        t.addProperty("beta2", training.adam().beta2());
        t.addProperty("eps", training.adam().eps());
        t.addProperty("weight_decay", training.adam().weightDecay());
        t.addProperty("optimizer", training.adam().optimizer().label());
        t.addProperty("epochs", training.epochs());
        t.addProperty("max_steps", training.maxSteps());
        t.addProperty("flip", training.flip());
        t.addProperty("seed", training.seed());
        t.addProperty("initial_time_table", training.timeTable().label());
        t.addProperty("sample_every", training.sampleEvery());
        t.addProperty("checkpoint_every", training.checkpointEvery());
        t.addProperty("checkpoint_minutes", training.checkpointMinutes());
        t.addProperty("log_every", training.logEvery());
        t.addProperty("ema_decay", training.emaDecay());
        t.addProperty("cond_drop", training.condDrop());
        t.addProperty("lr_schedule", training.lrSchedule().kind().label());
        t.addProperty("lr_warmup", training.lrSchedule().warmupSteps());
        t.addProperty("lr_decay_steps", training.lrSchedule().decaySteps());
        t.addProperty("max_grad_norm", training.maxGradNorm());
        t.addProperty("snr_gamma", training.snrGamma());
        t.addProperty("ema_power", training.emaPower());
        t.addProperty("grid_sampler", training.gridSampler().label());
        t.addProperty("grid_steps", training.gridSteps());
        t.addProperty("grid_karras", training.gridKarras());
        o.add("training", t);
        JsonObject d = new JsonObject();
        d.addProperty("source", data.source());
        d.add("path", data.path() == null ? JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(data.path()));
        d.addProperty("split", data.split().label());
        d.add("class", data.className() == null ? JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(data.className()));
        d.addProperty("limit", data.limit());
        d.addProperty("resize", data.resize().label());
        d.addProperty("images", images);
        o.add("data", d);
        o.add("finetuned_from", finetunedFrom == null ? JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(finetunedFrom));
        if (classNames != null) {
            JsonArray names = new JsonArray();
            classNames.forEach(names::add);
            o.add("class_names", names);
        }
        return o;
    }

    public static CheckpointMeta fromJson(JsonObject o) {
        upgradeResize(o);
        UNetConfig model = Configs.fromJson(o.getAsJsonObject("model"));
        JsonObject t = o.getAsJsonObject("training");
        AdamConfig adam = new AdamConfig(t.get("lr").getAsDouble(), t.get("beta1").getAsDouble(),
                t.get("beta2").getAsDouble(), t.get("eps").getAsDouble(), t.get("weight_decay").getAsDouble(),
                // absent from files written before AdamW: Adam, which they trained with
                t.has("optimizer") ? Optimizer.parse(t.get("optimizer").getAsString()) : Optimizer.ADAM);
        TrainSettings ts = new TrainSettings(t.get("preset").getAsString(), t.get("batch").getAsInt(), adam,
                t.get("epochs").getAsInt(), t.get("max_steps").getAsLong(), t.get("flip").getAsBoolean(),
                t.get("seed").getAsLong(), TimeTable.valueOf(t.get("initial_time_table").getAsString().toUpperCase(java.util.Locale.ROOT)),
                t.get("sample_every").getAsInt(), t.get("checkpoint_every").getAsInt(),
                t.get("checkpoint_minutes").getAsDouble(), t.get("log_every").getAsInt(),
                // absent from files written before the EMA and class conditioning: no EMA, the default dropout
                t.has("ema_decay") ? t.get("ema_decay").getAsDouble() : 0.0,
                t.has("cond_drop") ? t.get("cond_drop").getAsDouble() : TrainSettings.DEFAULT_COND_DROP,
                // absent from files written before learning-rate schedules: the constant rate they trained with
                new LrSchedule(t.has("lr_schedule") ? LrSchedule.Kind.parse(t.get("lr_schedule").getAsString()) : LrSchedule.Kind.CONSTANT,
                        t.has("lr_warmup") ? t.get("lr_warmup").getAsLong() : 0,
                        t.has("lr_decay_steps") ? t.get("lr_decay_steps").getAsLong() : 0),
                t.has("max_grad_norm") ? t.get("max_grad_norm").getAsDouble() : 0.0,
                t.has("snr_gamma") ? t.get("snr_gamma").getAsDouble() : 0.0,
                t.has("ema_power") ? t.get("ema_power").getAsDouble() : 0.0,
                t.has("grid_sampler") ? SamplerKind.parse(t.get("grid_sampler").getAsString()) : SamplerKind.DDPM,
                t.has("grid_steps") ? t.get("grid_steps").getAsInt() : 0,
                t.has("grid_karras") && t.get("grid_karras").getAsBoolean());
        JsonObject d = o.getAsJsonObject("data");
        DataSpec data = new DataSpec(d.get("source").getAsString(), str(d.get("path")),
                Split.parse(d.get("split").getAsString()), str(d.get("class")), d.get("limit").getAsInt(),
                Resize.parse(d.get("resize").getAsString()));
        List<String> names = null;
        if (o.has("class_names")) {
            names = new ArrayList<>();
            for (JsonElement e : o.getAsJsonArray("class_names")) names.add(e.getAsString());
        }
        return new CheckpointMeta(model, ts, data, d.get("images").getAsInt(), str(o.get("finetuned_from")), names);
    }

    static TimeTable tableKind(JsonObject o) {
        return TimeTable.valueOf(o.get("time_table").getAsString().toUpperCase(java.util.Locale.ROOT));
    }

    /**
     * Files written before the crop mode record data.resize as a boolean, true meaning the whole picture scaled,
     * which is what such a run trained on: rewritten in place as the word (stretch or none) this version writes.
     */
    static void upgradeResize(JsonObject config) {
        JsonElement data = config.get("data");
        if (data == null || !data.isJsonObject()) return;
        JsonElement r = data.getAsJsonObject().get("resize");
        if (r != null && r.isJsonPrimitive() && r.getAsJsonPrimitive().isBoolean()) {
            data.getAsJsonObject().addProperty("resize", (r.getAsBoolean() ? Resize.STRETCH : Resize.NONE).label());
        }
    }

    private static String str(JsonElement e) {
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }
}
