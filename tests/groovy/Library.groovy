import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/** Stands in for Jenkins' @Library, so that `@Library('pysteps') _` compiles outside Jenkins. */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
}
