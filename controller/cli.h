/*
 * The command line's one description: every command and subcommand, its
 * arguments, options and help text. `assay help`, `--help`, the option
 * check (with "did you mean"), the man page (assay.1) and the bash
 * completion are all written from this table, so they cannot disagree.
 */
#ifndef ASSAY_CTL_CLI_H
#define ASSAY_CTL_CLI_H

#include <stddef.h>
#include <stdio.h>

/* What completes an option's value or a positional argument. */
typedef enum {
    ASSAY_CLI_NONE,
    ASSAY_CLI_FILE,
    ASSAY_CLI_DIR,
    ASSAY_CLI_PROFILE, /* profile ids of the lab */
    ASSAY_CLI_HOST,    /* host names of the lab */
    ASSAY_CLI_WORDS,   /* the words listed in `words` */
} assay_cli_complete;

typedef struct assay_cli_opt {
    const char *name;  /* "--profiles"; NULL ends a list */
    const char *arg;   /* the value's name ("ID[,ID...]"), or NULL for a flag */
    const char *help;  /* one line */
    assay_cli_complete complete;
    const char *words; /* ASSAY_CLI_WORDS: the choices, space-separated */
    int required;      /* the command cannot do without it (shown bare in synopses) */
} assay_cli_opt;

#define ASSAY_CLI_MAX_OPTS 16

typedef struct assay_cli_cmd {
    const char *name;    /* "run" */
    const char *sub;     /* "submit", or NULL for a command without subcommands */
    const char *args;    /* positional arguments as shown ("PACKAGE"), or "" */
    int npos;            /* how many positional arguments it takes at most */
    assay_cli_complete pos_complete; /* what completes them */
    int needs_lab;       /* 1 if it opens the lab */
    const char *summary; /* one line */
    const char *help;    /* paragraphs, lines of at most 78 columns */
    assay_cli_opt opts[ASSAY_CLI_MAX_OPTS];
} assay_cli_cmd;

/* The table, in the order help lists it. */
const assay_cli_cmd *assay_cli_commands(size_t *n);

/* The entry of `name` (and `sub`, NULL for a command without
 * subcommands), or NULL. */
const assay_cli_cmd *assay_cli_find(const char *name, const char *sub);

/* 1 if `name` is a command of the table; 1 if it has subcommands. */
int assay_cli_is_command(const char *name);
int assay_cli_has_subs(const char *name);

/* The option `name` of `c`, or NULL. */
const assay_cli_opt *assay_cli_opt_find(const assay_cli_cmd *c, const char *name);

/*
 * Edit distance between a and b (optimal string alignment: insertions,
 * deletions, substitutions and transpositions of neighbours count one
 * each), compared case-insensitively, capped at 255.
 */
size_t assay_edit_distance(const char *a, const char *b);

/*
 * The candidate nearest to `word`, if it is near enough to be what was
 * meant (distance 1 for words of up to 4 characters, 2 up to 8, 3 beyond,
 * and never the whole word), else NULL. Ties go to the first.
 */
const char *assay_cli_suggest(const char *word, const char *const *cands, size_t n);

/*
 * Check `argv` against entry `c`: every option known (an unknown one
 * names the nearest known one), every option that takes a value has one,
 * at most c->npos positional arguments (stored in pos[0..c->npos), the
 * rest NULL; pos holds at least c->npos entries). Returns 0, or -1 with
 * the reason in msg.
 */
int assay_cli_check(const assay_cli_cmd *c, int argc, char **argv, char **pos, char *msg, size_t msglen);

/* The "did you mean" for an unknown command or subcommand: writes
 * "unknown command 'x' (did you mean 'y'?)" or without the suggestion. */
void assay_cli_unknown(char *msg, size_t msglen, const char *name, const char *sub);

/* The overview (`assay help`). */
void assay_cli_usage(FILE *f);
/* Help for a command: every subcommand's synopsis, or for a leaf its
 * synopsis, text and options. Returns 0, or -1 if there is no such entry. */
int assay_cli_help(FILE *f, const char *name, const char *sub);
/* The man page, roff (man(7) macros). */
void assay_cli_man(FILE *f);
/* A bash completion script (complete -F _assay assay). */
void assay_cli_bash(FILE *f);

#endif
