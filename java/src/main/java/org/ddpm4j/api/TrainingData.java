package org.ddpm4j.api;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import org.ddpm4j.data.CifarDownloader;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.ImageSet;
import org.ddpm4j.data.MemoryImages;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * What a {@link Trainer} trains on: CIFAR-10 (found as the command line finds it, or downloaded), a
 * folder of pictures, or any images a program has, as {@link BufferedImage}s or uint8 arrays, each
 * with an optional class name; narrowed to one class or the first N images. Immutable: every method
 * returns a changed copy.
 *
 * <p>Images from a program are read from their {@code Iterable} once, when this is made, and kept in
 * memory (pictures are converted when training starts, at the model's shape). The run's checkpoint
 * records them as "images in memory": only the program can give them again, so a command-line
 * {@code --resume} of such a run is refused, and {@code Trainer.resume(dir).data(...)} needs the same
 * number of images.
 *
 * <p>On a resumed run (and for a fine-tune's default, the base model's data), {@link #recorded()} stands for
 * the data the checkpoint names; any choice given besides must agree with it.
 */
public final class TrainingData {
    private static final String ONE_CLASS = "images";

    /** The choices, copied and changed by each method, never changed once a TrainingData holds them. */
    private static final class Values implements Cloneable {
        String source;          // DataSpec.CIFAR10, FOLDER, MEMORY, or null: as recorded
        Path cifarDir;
        Path imageDir;
        Split split;
        String className;
        Integer limit;
        Resize resize;
        boolean download;
        String url = CifarDownloader.DEFAULT_URL;
        String md5 = CifarDownloader.OFFICIAL_MD5;
        Path cacheDir = CifarDownloader.defaultCacheDir();
        List<BufferedImage> pictures;
        List<String> pictureClasses;
        ImageSet arrays;

        Values copy() {
            try {
                return (Values) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private final Values v;

    private TrainingData(Values v) {
        this.v = v;
    }

    private static TrainingData of(Consumer<Values> init) {
        Values v = new Values();
        init.accept(v);
        return new TrainingData(v);
    }

    private TrainingData with(Consumer<Values> change) {
        Values c = v.copy();
        change.accept(c);
        return new TrainingData(c);
    }

    /**
     * The CIFAR-10 training images in the official binary format, found in this order: $DDPM_CIFAR_DIR,
     * ../shared/data/cifar-10-batches-bin next to the project, the download cache ({@link #download}).
     */
    public static TrainingData cifar10() {
        return of(v -> v.source = DataSpec.CIFAR10);
    }

    /** CIFAR-10 from {@code dir} (data_batch_1.bin ... data_batch_5.bin, test_batch.bin, batches.meta.txt). */
    public static TrainingData cifar10(Path dir) {
        return cifar10().cifarDir(dir);
    }

    /**
     * The PNG and JPEG pictures in {@code dir}: one subfolder per class (in name order), or a flat folder of one
     * class; read at their stored pixel values (grey, 16-bit and palette pictures exactly).
     */
    public static TrainingData imageFolder(Path dir) {
        return of(v -> {
            v.source = DataSpec.FOLDER;
            v.imageDir = dir;
        });
    }

    /** These pictures, one class; each must be the model's size unless {@link #resize}. */
    public static TrainingData images(Iterable<BufferedImage> pictures) {
        List<BufferedImage> list = listOf(pictures, "pictures");
        return images(list, Collections.nCopies(list.size(), ONE_CLASS));
    }

    /** These pictures with a class name each (the i-th name is the i-th picture's); classes in name order. */
    public static TrainingData images(Iterable<BufferedImage> pictures, Iterable<String> classNames) {
        List<BufferedImage> list = listOf(pictures, "pictures");
        List<String> names = listOf(classNames, "class names");
        if (names.size() != list.size()) {
            throw new InvalidInputException(list.size() + " pictures but " + names.size() + " class names; give one name per picture");
        }
        return of(v -> {
            v.source = DataSpec.MEMORY;
            v.pictures = list;
            v.pictureClasses = names;
        });
    }

    /** These images as uint8 arrays of channels x height x width values each, channel-major (C, H, W); one class. */
    public static TrainingData arrays(Iterable<byte[]> images, int channels, int height, int width) {
        List<byte[]> list = listOf(images, "image arrays");
        return arrays(list, Collections.nCopies(list.size(), ONE_CLASS), channels, height, width);
    }

    /** These uint8 (C, H, W) arrays with a class name each; classes in name order. */
    public static TrainingData arrays(Iterable<byte[]> images, Iterable<String> classNames, int channels, int height,
                                      int width) {
        ImageSet set = Errors.call(() -> MemoryImages.ofArrays(listOf(images, "image arrays"), listOf(classNames, "class names"),
                channels, height, width));
        return of(v -> {
            v.source = DataSpec.MEMORY;
            v.arrays = set;
        });
    }

    /** The data the checkpoint names: of the run being resumed, or of a fine-tune's base model. */
    public static TrainingData recorded() {
        return of(v -> { });
    }

    /** CIFAR-10's training (50,000 images, the default) or test (10,000) files. */
    public TrainingData split(Split s) {
        return with(c -> c.split = s);
    }

    /** Only the images of one class, by name ({@code "ship"}, any case) or label number ({@code "8"}). */
    public TrainingData onlyClass(String nameOrLabel) {
        return with(c -> c.className = nameOrLabel);
    }

    /** Only the first {@code n} images (after {@link #onlyClass}); 0 = all. */
    public TrainingData limit(int n) {
        if (n < 0) throw Errors.invalid(Setting.LIMIT, "must be >= 0, got " + n);
        return with(c -> c.limit = n);
    }

    /**
     * Scale pictures that are not the model's size instead of refusing them: true = {@link Resize#CROP} (the centred
     * square, nothing distorted), false = {@link Resize#NONE}.
     */
    public TrainingData resize(boolean scale) {
        return resize(scale ? Resize.CROP : Resize.NONE);
    }

    /**
     * What to do with pictures that are not the model's size: refuse them ({@link Resize#NONE}, the default), scale
     * their centred square ({@link Resize#CROP}) or the whole picture ({@link Resize#STRETCH}), with Pillow's
     * antialiased bilinear filter.
     */
    public TrainingData resize(Resize mode) {
        if (mode == null) throw Errors.invalid(Setting.RESIZE, "must be none, crop or stretch, got null");
        return with(c -> c.resize = mode);
    }

    /** Where the CIFAR-10 files are; also moves the CIFAR-10 folder of a {@link #recorded()} run. */
    public TrainingData cifarDir(Path dir) {
        return with(c -> c.cifarDir = dir);
    }

    /** Moves the picture folder of a {@link #recorded()} run. */
    public TrainingData imageDir(Path dir) {
        return with(c -> c.imageDir = dir);
    }

    /** Download CIFAR-10 (about 170 MB, MD5-checked) into the cache when it is not found. */
    public TrainingData download(boolean fetch) {
        return with(c -> c.download = fetch);
    }

    /**
     * Where {@link #download} fetches cifar-10-binary.tar.gz and its expected MD5 (each null: the official one, the
     * default).
     */
    public TrainingData downloadFrom(String archiveUrl, String archiveMd5) {
        return with(c -> {
            c.url = archiveUrl != null ? archiveUrl : CifarDownloader.DEFAULT_URL;
            c.md5 = archiveMd5 != null ? archiveMd5 : CifarDownloader.OFFICIAL_MD5;
        });
    }

    /** The download cache (default ~/.cache/ddpm4j). */
    public TrainingData cacheDir(Path dir) {
        return with(c -> c.cacheDir = dir);
    }

    boolean isRecorded() {
        return v.source == null;
    }

    boolean inMemory() {
        return DataSpec.MEMORY.equals(v.source);
    }

    CifarLocator locator() {
        return new CifarLocator(v.download, v.url, v.md5, v.cacheDir);
    }

    /** The spec of a new run: the choices made, the defaults for the others. */
    DataSpec spec() {
        if (v.source == null) throw new InvalidInputException("a new model has no recorded data to train on; give TrainingData.cifar10(), "
                + "imageFolder(dir) or images(...)");
        return Errors.call(() -> new DataSpec(v.source, path(v.source), v.split != null ? v.split : Split.TRAIN, v.className,
                v.limit != null ? v.limit : 0, v.resize != null ? v.resize : Resize.NONE));
    }

    /** {@code recorded} with this one's choices: the given ones (which must agree on a resume) and the locations. */
    DataSpec resolve(DataSpec recorded) {
        if (v.source != null && !v.source.equals(recorded.source())) return spec();
        String p = path(recorded.source());
        return Errors.call(() -> new DataSpec(recorded.source(), p != null ? p : recorded.path(),
                v.split != null ? v.split : recorded.split(), v.className != null ? v.className : recorded.className(),
                v.limit != null ? v.limit : recorded.limit(), v.resize != null ? v.resize : recorded.resize()));
    }

    /** The choices made whose values differ from a run's recorded data, as "SETTING VALUE (the run has RECORDED)". */
    List<SettingText> changedFrom(DataSpec r) {
        List<SettingText> out = new ArrayList<>();
        if (v.source != null && !v.source.equals(r.source())) out.add(Changes.of(Setting.DATA, v.source, r.source()));
        if (v.split != null && v.split != r.split()) out.add(Changes.of(Setting.SPLIT, v.split.label(), r.split().label()));
        Changes.add(out, Setting.RESIZE, v.resize == null ? null : v.resize.label(), r.resize().label());
        if (v.className != null && (r.className() == null || !v.className.equalsIgnoreCase(r.className()))) {
            out.add(Changes.of(Setting.CLASS, v.className, r.className() == null ? "every class" : r.className()));
        }
        if (v.limit != null && v.limit != r.limit()) out.add(Changes.of(Setting.LIMIT, v.limit, r.limit() == 0 ? "no limit" : r.limit()));
        return out;
    }

    /** The images handed over, at the model's shape; null for data read from files. */
    ImageSet memory(UNetConfig cfg) {
        if (v.arrays != null) {
            if (v.resize != null && v.resize != Resize.NONE) {
                throw new InvalidInputException("resize applies to pictures and image folders, not to arrays");
            }
            return v.arrays;
        }
        if (v.pictures == null) return null;
        return Errors.call(() -> MemoryImages.ofPictures(v.pictures, v.pictureClasses, cfg.inChannels(), cfg.height(), cfg.width(),
                v.resize != null ? v.resize : Resize.NONE));
    }

    private String path(String forSource) {
        Path p = DataSpec.CIFAR10.equals(forSource) ? v.cifarDir : DataSpec.FOLDER.equals(forSource) ? v.imageDir : null;
        return p == null ? null : p.toString();
    }

    private static <T> List<T> listOf(Iterable<T> items, String what) {
        if (items == null) throw new InvalidInputException("the " + what + " are null");
        List<T> out = new ArrayList<>();
        for (T t : items) out.add(t);
        if (out.isEmpty()) throw new InvalidInputException("no " + what + " were given");
        return Collections.unmodifiableList(out);
    }

    @Override
    public String toString() {
        return v.source == null ? "the recorded data" : v.source.toLowerCase(Locale.ROOT) + (v.className != null ? ", class " + v.className : "");
    }
}
