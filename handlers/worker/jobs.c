/*
 * jobs.c: the kinds of outbox job the worker runs. A new kind is one enum
 * member, one row of job_kinds[] and its function.
 */
#include <stdio.h>
#include <string.h>

#include "worker.h"

static enum job_result	job_payment_confirmation(struct app *, struct job *);

enum job_kind {
	JOB_PAYMENT_CONFIRMATION,
	JOB_KIND__MAX,
};

static const struct {
	const char	*name;		/* outbox.kind */
	job_fn		 run;
} job_kinds[JOB_KIND__MAX] = {
	[JOB_PAYMENT_CONFIRMATION] = { "payment_confirmation",
	    job_payment_confirmation },
};

job_fn
job_handler(const char *kind)
{
	int	i;

	for (i = 0; i < JOB_KIND__MAX; i++)
		if (strcmp(kind, job_kinds[i].name) == 0)
			return job_kinds[i].run;
	return NULL;
}

/*
 * The customer's "payment received" message, queued when a payment
 * settles (payment.c; payload {"paymentId", "orderId"}). No messaging
 * channel (WhatsApp, Instagram, SMS) exists yet: the job waits, visible
 * to the merchant (GET /v1/payments/:id, "confirmation") and to operators
 * (scripts/outbox), until one does.
 */
static enum job_result
job_payment_confirmation(struct app *app, struct job *job)
{
	(void)app;
	snprintf(job->error, sizeof(job->error), "no messaging channel is "
	    "configured yet; sent once one is");
	return JOB_WAITING;
}
