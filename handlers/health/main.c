/*
 * health: GET /v1/health reports whether PostgreSQL and Redis answer;
 * 200 when both do, 503 with the same report when either does not.
 */
#include "app.h"

static void	handle_health(struct app *, struct request *);

enum route_id {
	ROUTE_HEALTH,
	ROUTE__MAX,
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_HEALTH] = { METHOD_GET, "/v1/health", handle_health,
	    ROUTE_OPEN | ROUTE_NO_LIMIT },
};

static void
handle_health(struct app *app, struct request *r)
{
	struct json_object	*report;
	int			 db_up, redis_up;

	db_up = db_ping(&app->db);
	redis_up = kv_ping(&app->kv);
	report = json_object_new_object();
	json_object_object_add(report, "status",
	    json_object_new_string(db_up && redis_up ? "ok" : "degraded"));
	json_object_object_add(report, "database",
	    json_object_new_string(db_up ? "up" : "down"));
	json_object_object_add(report, "redis",
	    json_object_new_string(redis_up ? "up" : "down"));
	if (db_up && redis_up)
		respond_data(r, 200, report);
	else
		respond_error_details(r, ERR_UNAVAILABLE, !db_up ?
		    "the database is down" : "redis is down", report);
}

int
main(void)
{
	struct app	app;

	if (app_init(&app, "health", NULL, 0) != 0)
		return 1;
	app_serve(&app, routes, ROUTE__MAX);
	app_free(&app);
	return 0;
}
