/*
 * worker.h: what the worker's loop (main.c) shares with its outbox job
 * kinds (jobs.c).
 *
 * A job kind is one row of jobs.c's table: its name (outbox.kind) and the
 * function that runs one job of it. The loop claims a job, runs the
 * function, and records the result the function returns; the function
 * touches nothing but what its job is about.
 */
#ifndef COMMERCE_WORKER_H
#define COMMERCE_WORKER_H

#include <json-c/json.h>

#include "app.h"

#define JOB_ERROR_MAX	256

enum job_result {
	JOB_DONE,	/* finished */
	JOB_WAITING,	/* cannot be done yet; an operator or a later
			 * change sends it again (error says why) */
	JOB_RETRY,	/* failed this time; again after a backoff, dead
			 * after its last attempt (error says why) */
	JOB_DEAD,	/* can never succeed (error says why) */
};

/* One claimed job. The session's scope is the job's merchant. */
struct job {
	const char		*id;
	const char		*merchant_id;
	const char		*kind;
	struct json_object	*payload;	/* a JSON object */
	int			 attempts;	/* counting this one */
	int			 max_attempts;
	char			 error[JOB_ERROR_MAX]; /* set by the function */
};

typedef enum job_result	(*job_fn)(struct app *, struct job *);

/* The function for a kind, or NULL for a kind this worker does not know. */
job_fn	job_handler(const char *kind);

#endif
