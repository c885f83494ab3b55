/* kks-terminal train: a full-screen e-warong EDC (or Himbara ATM) for
 * trainers, in Bahasa Indonesia (or English), with a LATIHAN watermark,
 * lessons from YAML files, faults the trainer sets for the next transaction,
 * and a score.
 *
 *   lesson.c  tl_     lesson files (the scenario loader's YAML tree, checked)
 *   train.c   train_  the command line, the world, the screens and the keys
 *
 * Only this directory links ncurses. */
#ifndef KKS_TRAIN_H
#define KKS_TRAIN_H

/* kks-terminal --id ID train [options]: returns the exit code. */
int train_cli(int argc, char **argv);

#endif
