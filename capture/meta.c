/*
 * meta.c - the metadata sources together: what `egresswatch run` starts.
 *
 * The Kubernetes API is tried first and the engine API second; when both
 * are there both run, each on its own thread: the API names pods (and
 * knows owners, ports and namespace labels), the engine knows plain
 * containers and, on Kubernetes-on-Docker nodes, the same pods by their
 * container ids.  The registry ranks the Kubernetes API's names first.  A
 * source that is not configured is off, with one log line saying why; a
 * configuration given explicitly that cannot be used is an error, since
 * the operator asked for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

struct meta {
	struct meta_k8s *k8s;
	struct meta_docker *docker;
	char kube_why[256], docker_why[256];
};

void meta_config_defaults(struct meta_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_timeout_ms = 5000;
	cfg->request_timeout_ms = 60000;
	cfg->watch_timeout_s = 300;
	cfg->backoff_min_ms = 500;
	cfg->backoff_max_ms = 30000;
	cfg->list_page = 500;
	cfg->max_list_bytes = META_LIST_MAX_BYTES;
	cfg->max_object_bytes = META_OBJECT_MAX_BYTES;
}

struct meta *meta_open(const struct meta_config *cfg, struct attrib *a,
		       char *err, size_t errlen)
{
	struct meta *m = calloc(1, sizeof(*m));
	int rc;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rc = meta_k8s_open(cfg, a, &m->k8s, m->kube_why, sizeof(m->kube_why));
	if (rc == -ENOENT && (!cfg->kubeconfig || !strcmp(cfg->kubeconfig, "none"))) {
		log_info("metadata: kubernetes API: %s", m->kube_why);
	} else if (rc < 0) {
		snprintf(err, errlen, "kubernetes API: %s", m->kube_why);
		goto fail;
	}
	rc = meta_docker_open(cfg, a, &m->docker, m->docker_why, sizeof(m->docker_why));
	if (rc == -ENOENT && (!cfg->docker_socket || !*cfg->docker_socket ||
			      !strcmp(cfg->docker_socket, "none"))) {
		log_info("metadata: docker API: %s", m->docker_why);
	} else if (rc < 0) {
		snprintf(err, errlen, "docker API %s: %s",
			 cfg->docker_socket ? cfg->docker_socket : "", m->docker_why);
		goto fail;
	}
	return m;
fail:
	meta_close(m);
	return NULL;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	meta_k8s_close(m->k8s);
	meta_docker_close(m->docker);
	free(m);
}

static void off(struct meta_source_stats *s, const char *why)
{
	memset(s, 0, sizeof(*s));
	s->state = META_OFF;
	snprintf(s->last_error, sizeof(s->last_error), "%s", why);
}

void meta_get_stats(struct meta *m, struct meta_stats *out)
{
	if (m->k8s)
		meta_k8s_stats(m->k8s, &out->kube);
	else
		off(&out->kube, m->kube_why);
	if (m->docker)
		meta_docker_stats(m->docker, &out->runtime);
	else
		off(&out->runtime, m->docker_why);
}
