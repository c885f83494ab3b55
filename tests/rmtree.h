/* Test teardown: removes a directory and everything under it, without a
 * shell (symlinks removed, not followed). 0, or -1 with errno. */
#ifndef KKS_TEST_RMTREE_H
#define KKS_TEST_RMTREE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;
    if (!d)
        return -1;
    while (rc == 0 && (e = readdir(d))) {
        char path[1024];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0)
            rc = -1;
        else
            rc = S_ISDIR(st.st_mode) ? rmtree(path) : unlink(path);
    }
    closedir(d);
    return rc == 0 ? rmdir(dir) : -1;
}

#endif
