package org.ddpm4j.data;

import java.nio.file.Path;
import java.util.function.Consumer;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/** Loads the images a {@link DataSpec} names, at the model's image shape. */
public final class DataSources {
    private DataSources() {}

    /**
     * @param log progress lines (downloads)
     * @return the images, with the class filter and limit applied, and the resolved spec
     */
    public static LoadedData load(DataSpec spec, int channels, int height, int width, CifarLocator cifar,
                                  Consumer<String> log) {
        return load(spec, null, channels, height, width, cifar, log);
    }

    /**
     * @param memory the images of a spec whose source is {@link DataSpec#MEMORY} (already at the model's shape),
     *     else null
     */
    public static LoadedData load(DataSpec spec, ImageSet memory, int channels, int height, int width, CifarLocator cifar,
                                  Consumer<String> log) {
        ImageSet set;
        DataSpec resolved = spec;
        if (spec.source().equals(DataSpec.MEMORY)) {
            if (memory == null) {
                throw new DataException("the run trained on images held in memory (handed over through the Java API); "
                        + "only that program can give them again");
            }
            if (memory.channels() != channels || memory.height() != height || memory.width() != width) {
                throw new DataException("the images in memory are " + memory.channels() + "x" + memory.height() + "x"
                        + memory.width() + " but the model is " + channels + "x" + height + "x" + width);
            }
            set = memory;
        } else if (spec.source().equals(DataSpec.CIFAR10)) {
            if (channels != Cifar10Reader.CHANNELS || height != Cifar10Reader.SIDE || width != Cifar10Reader.SIDE) {
                throw new DataException(SettingText.of("CIFAR-10 images are 3x32x32 but the model is " + channels + "x" + height
                        + "x" + width + "; use ", Setting.IMAGE_SIZE, " 32 or an image folder"));
            }
            Path dir = cifar.locate(spec.path(), spec.split(), log);
            set = Cifar10Reader.read(dir, spec.split());
            resolved = spec.withPath(dir.toAbsolutePath().normalize().toString());
        } else {
            set = ImageFolderReader.read(Path.of(spec.path()), channels, height, width, spec.resize());
        }
        if (spec.className() != null) set = ClassSelector.select(set, spec.className());
        if (spec.limit() > 0) set = set.first(spec.limit());
        return new LoadedData(set, resolved);
    }
}
