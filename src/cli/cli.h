/* The vdb command-line tool: one cmd_<verb>.c per subcommand, dispatched
 * from the table in main.c. Each command returns the process exit status
 * (0 success, 1 failure, 2 usage error) and prints its own errors. */
#ifndef VDB_CLI_CLI_H
#define VDB_CLI_CLI_H

/* Each returns the process exit status (0, 1 or 2 as above), not an error
 * code. */
int vdb_cmd_bench(int argc, char **argv);
int vdb_cmd_serve(int argc, char **argv);
int vdb_cmd_keys(int argc, char **argv);
int vdb_cmd_create(int argc, char **argv);
int vdb_cmd_import(int argc, char **argv);
int vdb_cmd_query(int argc, char **argv);
int vdb_cmd_count(int argc, char **argv);
int vdb_cmd_export(int argc, char **argv);
int vdb_cmd_list(int argc, char **argv);
int vdb_cmd_doctor(int argc, char **argv);
int vdb_cmd_store_bench(int argc, char **argv);
int vdb_cmd_filter_bench(int argc, char **argv);
int vdb_cmd_recall(int argc, char **argv);
int vdb_cmd_optimize(int argc, char **argv);
int vdb_cmd_cluster(int argc, char **argv);

#endif
